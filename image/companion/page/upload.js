'use strict';
// The upload page: each chosen or dropped file is checked by the companion, then sent straight to the
// bucket with presigned URLs (one PUT, or parts for a large file), then reported done so the companion
// verifies it and brings it into the library. Element ids and data-state values are used by the tests.
(function () {
  const API = '/_hosted/api/uploads';
  const TYPES = { pdf: 'application/pdf', epub: 'application/epub+zip' };
  const FILES_AT_ONCE = 2;
  const PARTS_AT_ONCE = 3;
  const PART_TRIES = 3;
  // A companion busy with many uploads answers 429: the file waits its turn instead of failing.
  const BUSY_RETRY_MS = 15000;

  const list = document.getElementById('file-list');
  const input = document.getElementById('file-input');
  const zone = document.getElementById('drop-zone');
  const pageMessage = document.getElementById('page-message');
  const queue = [];
  let running = 0;

  class Failure extends Error {
    constructor(message, status, extra) {
      super(message);
      this.status = status || 0;
      this.extra = extra || {};
    }
  }

  // Browsers often give no type for .epub (or an odd one): the extension decides then.
  function declaredType(file) {
    if (Object.values(TYPES).includes(file.type)) return file.type;
    const ext = file.name.includes('.') ? file.name.split('.').pop().toLowerCase() : '';
    return TYPES[ext] || file.type || 'application/octet-stream';
  }

  function formatBytes(n) {
    const units = ['bytes', 'KB', 'MB', 'GB'];
    let unit = 0;
    while (n >= 1000 && unit < units.length - 1) { n /= 1000; unit++; }
    return unit ? `${n.toFixed(n < 10 ? 1 : 0)} ${units[unit]}` : `${n} bytes`;
  }

  async function api(path, body) {
    let res;
    try {
      res = await fetch(path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    } catch {
      throw new Failure('Your library could not be reached. Check your connection and try again.');
    }
    let data = {};
    try { data = await res.json(); } catch { /* the message below covers it */ }
    if (!res.ok) {
      const { error, ...extra } = data;
      throw new Failure(error || `Something went wrong (HTTP ${res.status}). Please try again.`, res.status, extra);
    }
    return data;
  }

  function put(url, blob, contentType, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('PUT', url);
      if (contentType) xhr.setRequestHeader('Content-Type', contentType);
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) { onProgress(blob.size); resolve(); }
        else reject(new Failure(`The storage refused the upload (HTTP ${xhr.status}).`, xhr.status));
      };
      xhr.onerror = () => reject(new Failure('The upload was interrupted. Check your connection and try again.'));
      xhr.send(blob);
    });
  }

  function row(file) {
    const item = document.createElement('li');
    item.className = 'upload';
    item.dataset.name = file.name;
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = `${file.name} (${formatBytes(file.size)})`;
    const bar = document.createElement('progress');
    bar.className = 'upload-progress';
    bar.max = Math.max(file.size, 1);
    bar.value = 0;
    const status = document.createElement('span');
    status.className = 'upload-status';
    item.append(name, bar, status);
    list.append(item);
    const view = {
      item, bar, status,
      set(state, text) { item.dataset.state = state; status.textContent = text; },
      progress(loaded) {
        bar.value = loaded;
        view.set('uploading', `Uploading… ${Math.floor((100 * loaded) / Math.max(file.size, 1))}%`);
      },
      offer(label, action) {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'upload-action';
        button.textContent = label;
        button.addEventListener('click', () => { button.remove(); action(); });
        item.append(button);
      },
    };
    view.set('queued', 'Waiting…');
    return view;
  }

  async function uploadParts(file, plan, view) {
    const loaded = new Map();
    const report = () => view.progress([...loaded.values()].reduce((a, b) => a + b, 0));
    const issued = Date.now();
    const urls = new Map(plan.parts.map((p) => [p.partNumber, { url: p.url, at: issued }]));
    const waiting = Array.from({ length: plan.partCount }, (_, i) => i + 1);
    // Each part's URL is signed for that part's exact size and lives a few minutes: it is asked for
    // just before the part is sent, and again after a failed try.
    async function urlFor(n) {
      const known = urls.get(n);
      if (known && Date.now() - known.at < (plan.expiresIn - 60) * 1000) return known.url;
      const fresh = await api(`${API}/parts`, { key: plan.key, uploadId: plan.uploadId, partNumbers: [n] });
      urls.set(n, { url: fresh.parts[0].url, at: Date.now() });
      return fresh.parts[0].url;
    }
    async function worker() {
      while (waiting.length) {
        const n = waiting.shift();
        const blob = file.slice((n - 1) * plan.partSize, Math.min(n * plan.partSize, file.size));
        for (let attempt = 1; ; attempt++) {
          try {
            await put(await urlFor(n), blob, null, (bytes) => { loaded.set(n, bytes); report(); });
            break;
          } catch (err) {
            loaded.set(n, 0);
            urls.delete(n);
            if (attempt >= PART_TRIES) throw err;
          }
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(PARTS_AT_ONCE, waiting.length) }, worker));
  }

  async function upload(file, name, view) {
    view.set('checking', 'Checking…');
    const type = declaredType(file);
    let plan;
    try {
      plan = await api(API, { name, size: file.size, type });
    } catch (err) {
      if (err.status === 409 && err.extra.suggestion) {
        view.set('conflict', err.message);
        const other = err.extra.suggestion;
        view.offer(`Add it as “${other}”`, () => enqueue(file, other, view));
        return;
      }
      if (err.status === 401) {
        view.set('error', err.message);
        view.offer('Sign in', () => { window.location.href = '/login?callbackUrl=/_hosted/'; });
        return;
      }
      if (err.status === 429) {
        view.set('queued', 'Waiting for the other books to finish…');
        await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
        return upload(file, name, view);
      }
      throw err;
    }
    try {
      if (plan.uploadId) await uploadParts(file, plan, view);
      else await put(plan.url, file, plan.contentType, (bytes) => view.progress(bytes));
    } catch (err) {
      api(`${API}/abort`, { key: plan.key, uploadId: plan.uploadId }).catch(() => {});
      throw err;
    }
    view.set('verifying', 'Adding to your library…');
    const done = await api(`${API}/complete`, { key: plan.key, uploadId: plan.uploadId });
    view.bar.value = view.bar.max;
    view.set('done', done.message);
  }

  function pump() {
    while (running < FILES_AT_ONCE && queue.length) {
      const { file, name, view } = queue.shift();
      running++;
      upload(file, name, view)
        .catch((err) => view.set('error', err.message || 'Something went wrong. Please try again.'))
        .finally(() => { running--; pump(); });
    }
  }

  function enqueue(file, name, view) {
    const target = view || row(file);
    if (name !== file.name) target.item.querySelector('.upload-name').textContent = `${name} (${formatBytes(file.size)})`;
    target.item.dataset.name = name;
    target.set('queued', 'Waiting…');
    queue.push({ file, name, view: target });
    pump();
  }

  function addFiles(files) {
    pageMessage.hidden = true;
    for (const file of files) enqueue(file, file.name);
  }

  input.addEventListener('change', () => { addFiles([...input.files]); input.value = ''; });
  zone.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); input.click(); }
  });
  for (const name of ['dragenter', 'dragover']) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add('dragging'); });
  }
  for (const name of ['dragleave', 'drop']) {
    zone.addEventListener(name, () => zone.classList.remove('dragging'));
  }
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    const files = [...(event.dataTransfer ? event.dataTransfer.files : [])];
    if (files.length) addFiles(files);
    else { pageMessage.textContent = 'Only files can be dropped here.'; pageMessage.hidden = false; }
  });
  // A file dropped next to the zone would otherwise make the browser leave the page to open it.
  window.addEventListener('dragover', (event) => event.preventDefault());
  window.addEventListener('drop', (event) => event.preventDefault());
  // Every handler is in place: a file chosen before this moment would have been ignored.
  document.documentElement.dataset.ready = 'true';
})();
