"""The signup site's pages, CSS and script. The pages are Jinja2 templates (signup/templates/) with
autoescaping on, so every value is escaped; nothing is loaded from elsewhere.

The script and the style are served by the app itself (`/_signup/signup.js`, `/_signup/signup.css`), so
the pages' Content-Security-Policy allows no inline code at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jinja2

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
TEMPLATES = Path(__file__).resolve().parent / "templates"
_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every page is HTML: escape every value, whatever the file's name
    undefined=jinja2.StrictUndefined,  # a misspelt value is an error, never an empty string
    keep_trailing_newline=True,
)


def _render(template: str, **values: object) -> str:
    return _ENV.get_template(template).render(**values)


def signup_page(domain: str, plans: Sequence[PlanPrice], values: Mapping[str, str], error: str | None = None) -> str:
    return _render(
        "signup.html",
        title="Sign up",
        domain=domain,
        plans=plans,
        chosen=values.get("plan") or (plans[0].plan if plans else ""),
        username=values.get("username", ""),
        email=values.get("email", ""),
        error=error,
        username_max=USERNAME_MAX,
        username_rules=USERNAME_RULES,
    )


def welcome_page(username: str, domain: str, email: str | None, session_id: str) -> str:
    url = f"https://{username}.{domain}"
    return _render("welcome.html", title="Welcome", url=url, email=email, session_id=session_id)


def message_page(title: str, message: str, link: tuple[str, str] | None = ("/", "Back to the signup page")) -> str:
    return _render("message.html", title=title, message=message, link=link)


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
