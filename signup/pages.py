"""The signup site's HTML, CSS and script. Every value is escaped; nothing is loaded from elsewhere.

The script and the style are served by the app itself (`/_signup/signup.js`, `/_signup/signup.css`), so
the pages' Content-Security-Policy allows no inline code at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from signup.checkout import PlanPrice
from tenants.naming import USERNAME_MAX, USERNAME_MIN

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
USERNAME_RULES = (
    f"{USERNAME_MIN} to {USERNAME_MAX} characters: lowercase letters a-z, digits and hyphens, "
    "not starting or ending with a hyphen."
)


def _layout(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><link rel=stylesheet href=/_signup/signup.css>"
        "<script src=/_signup/signup.js defer></script></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def signup_page(domain: str, plans: Sequence[PlanPrice], values: Mapping[str, str], error: str | None = None) -> str:
    username, email = values.get("username", ""), values.get("email", "")
    chosen = values.get("plan") or (plans[0].plan if plans else "")
    rows = "".join(
        f'<li><label><input type=radio name=plan value="{escape(p.plan)}"'
        f"{' checked' if p.plan == chosen else ''} required> "
        f"<span class=plan>{escape(p.plan.title())}</span> <span class=price>{escape(p.label)}</span></label></li>"
        for p in plans
    )
    alert = f"<p class=error role=alert id=form-error>{escape(error)}</p>" if error else ""
    body = (
        f"<h1>Your own e-book library</h1>"
        f"<p>A private Alex reader at <strong>&lt;username&gt;.{escape(domain)}</strong>.</p>{alert}"
        "<form method=post action=/signup id=signup novalidate>"
        f"<fieldset><legend>Plan</legend><ul class=plans>{rows}</ul></fieldset>"
        "<p><label for=username>Username</label> "
        f'<input id=username name=username value="{escape(username)}" autocomplete=username '
        f"maxlength={USERNAME_MAX} spellcheck=false autocapitalize=none required "
        f'aria-describedby="username-rules username-status" data-domain="{escape(domain)}">'
        f"<span class=suffix>.{escape(domain)}</span></p>"
        f"<p id=username-rules class=hint>{escape(USERNAME_RULES)}</p>"
        "<p id=username-status class=status role=status aria-live=polite></p>"
        "<p><label for=email>Email</label> "
        f'<input id=email name=email type=email value="{escape(email)}" autocomplete=email required '
        "aria-describedby=email-hint></p>"
        "<p id=email-hint class=hint>You sign in to your library with it.</p>"
        "<p><button type=submit>Continue to payment</button></p></form>"
    )
    return _layout("Sign up", body)


def welcome_page(username: str, domain: str, email: str | None, session_id: str) -> str:
    url = f"https://{username}.{domain}"
    login = f"<p>Sign in with <strong>{escape(email)}</strong>; your first password is on its way.</p>" if email else ""
    body = (
        "<h1>Welcome</h1>"
        f'<p id=library data-session="{escape(session_id)}" data-url="{escape(url)}" aria-live=polite>'
        f"Your library will be at <span id=library-url>{escape(url)}</span>. "
        "<span id=library-state>It is being set up; this page turns it into a link when it answers.</span></p>"
        f"{login}"
    )
    return _layout("Welcome", body)


def message_page(title: str, message: str, link: tuple[str, str] | None = ("/", "Back to the signup page")) -> str:
    more = f'<p><a href="{escape(link[0])}">{escape(link[1])}</a></p>' if link else ""
    return _layout(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>{more}")


STYLE = """
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f7f7f5; color: #1d1d1b; }
main { max-width: 36rem; margin: 2rem auto; padding: 0 1rem; }
ul.plans { list-style: none; padding: 0; }
ul.plans li { margin: .4rem 0; }
.price { color: #555; }
fieldset { border: 1px solid #ccc; border-radius: 6px; }
label { font-weight: 600; }
input[type=text], input:not([type]), input[type=email] { font: inherit; padding: .3rem .5rem; width: 14rem; }
.hint { color: #555; font-size: .9rem; margin-top: -.5rem; }
.status { min-height: 1.5rem; font-weight: 600; }
.status.ok { color: #17692a; }
.status.no, .error { color: #a11a1a; }
button { font: inherit; padding: .5rem 1.2rem; border-radius: 6px; border: 1px solid #1d1d1b; background: #1d1d1b;
  color: #fff; cursor: pointer; }
"""

SCRIPT = r"""
'use strict';
(function () {
  function availability() {
    var input = document.getElementById('username');
    var status = document.getElementById('username-status');
    if (!input || !status) return;
    var timer = null, asked = 0;
    function show(text, ok) {
      status.textContent = text;
      status.className = 'status' + (ok === true ? ' ok' : ok === false ? ' no' : '');
    }
    function ask() {
      var name = input.value.trim();
      if (!name) { show('', null); return; }
      var mine = ++asked;
      fetch('/api/available?username=' + encodeURIComponent(name), {headers: {'Accept': 'application/json'}})
        .then(function (r) {
          if (r.status === 429) return {available: null, reason: 'Too many checks; wait a moment.'};
          return r.json();
        })
        .then(function (a) {
          if (mine !== asked) return;
          if (a.available === true) show(name + '.' + input.dataset.domain + ' is available', true);
          else show(a.reason || 'This name cannot be used', a.available === null ? null : false);
        })
        .catch(function () { if (mine === asked) show('Could not check the name; you can still submit.', null); });
    }
    input.addEventListener('input', function () {
      clearTimeout(timer);
      show('', null);
      timer = setTimeout(ask, 300);
    });
    if (input.value) ask();
  }
  function readiness() {
    var box = document.getElementById('library');
    if (!box) return;
    var session = box.dataset.session, url = box.dataset.url;
    function poll() {
      fetch('/api/ready?session_id=' + encodeURIComponent(session), {headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : {ready: false}; })
        .then(function (a) {
          if (!a.ready) { setTimeout(poll, 3000); return; }
          var link = document.createElement('a');
          link.href = url;
          link.textContent = url;
          var where = document.getElementById('library-url');
          where.replaceChildren(link);
          document.getElementById('library-state').textContent = 'It is ready.';
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    poll();
  }
  function start() { availability(); readiness(); document.body.dataset.ready = 'true'; }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""
