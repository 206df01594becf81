'use strict';
// The few S3 calls the companion makes on the tenant's R2 bucket, signed with aws4 (SigV4), path-style
// (R2 and moto both take /<bucket>/<key>). Answers are small XML documents read with narrow regexes.
// Errors never carry a URL, header or credential: only the operation, key and HTTP status.

const http = require('node:http');
const https = require('node:https');
const aws4 = require('aws4');

class S3Error extends Error {
  constructor(operation, status, code) {
    super(`${operation} failed (${status ? `HTTP ${status}` : 'no answer'}${code ? `, ${code}` : ''})`);
    this.status = status;
    this.code = code;
  }
}

// encodeURIComponent leaves !'()* alone; SigV4 wants them encoded (aws4 canonicalises the same way).
function encodeSegment(segment) {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function xmlUnescape(text) {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#([0-9]+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

function xmlEscape(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function tag(xml, name) {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return match ? xmlUnescape(match[1]) : undefined;
}

function blocks(xml, name) {
  return xml.match(new RegExp(`<${name}>[\\s\\S]*?</${name}>`, 'g')) || [];
}

// An upload completed or aborted meanwhile has no parts left to count.
function notFoundAsEmpty(err) {
  if (err instanceof S3Error && err.status === 404) return [];
  throw err;
}

class S3 {
  constructor({ endpoint, bucket, accessKeyId, secretAccessKey, region }) {
    this.endpoint = endpoint;
    this.bucket = bucket;
    this.credentials = { accessKeyId, secretAccessKey };
    this.region = region;
    this.transport = endpoint.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: 16 });
    this.basePath = endpoint.pathname.replace(/\/+$/, '');
  }

  objectPath(key) {
    const parts = [this.bucket, ...(key === undefined ? [] : key.split('/'))];
    return `${this.basePath}/${parts.map(encodeSegment).join('/')}`;
  }

  sign(method, key, query, headers, body, signQuery) {
    const search = new URLSearchParams(query || {}).toString().replace(/\+/g, '%20');
    const options = {
      host: this.endpoint.host,
      path: this.objectPath(key) + (search ? `?${search}` : ''),
      method,
      service: 's3',
      region: this.region,
      headers: { ...(headers || {}) },
      signQuery,
    };
    if (body !== undefined) options.body = body;
    return aws4.sign(options, this.credentials);
  }

  /**
   * A URL the browser can use until it expires. `headers` are signed with it (content-length, and
   * content-type for a whole object): R2 refuses a request whose headers differ from the signed ones,
   * so the URL writes exactly the bytes planned.
   */
  presign(method, key, query, ttlSeconds, headers) {
    const signed = this.sign(method, key, { ...query, 'X-Amz-Expires': String(ttlSeconds) }, headers || {}, undefined, true);
    return `${this.endpoint.protocol}//${this.endpoint.host}${signed.path}`;
  }

  /** One signed request; resolves {status, headers, body: Buffer} or, with stream: true, the response. */
  request(operation, method, key, { query, headers, body, stream = false, timeoutMs = 30000 } = {}) {
    const signed = this.sign(method, key, query, headers, body, false);
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        {
          protocol: this.endpoint.protocol,
          hostname: this.endpoint.hostname,
          port: this.endpoint.port || undefined,
          method,
          path: signed.path,
          headers: signed.headers,
          agent: this.agent,
        },
        (res) => {
          if (stream && res.statusCode >= 200 && res.statusCode < 300) {
            req.setTimeout(0);
            resolve(res);
            return;
          }
          const chunks = [];
          res.on('data', (chunk) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks);
            if (res.statusCode >= 300) {
              reject(new S3Error(operation, res.statusCode, tag(text.toString('utf8'), 'Code')));
              return;
            }
            resolve({ status: res.statusCode, headers: res.headers, body: text });
          });
          res.on('error', () => reject(new S3Error(operation, res.statusCode)));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
      req.on('error', () => reject(new S3Error(operation, 0)));
      req.end(body);
    });
  }

  /** Every object under `prefix` (the whole bucket for ''): [{key, size}], paging ListObjectsV2. */
  async listObjects(prefix) {
    const objects = [];
    let token;
    for (let page = 0; page < 100000; page++) {
      const query = { 'list-type': '2', 'max-keys': '1000' };
      if (prefix) query.prefix = prefix;
      if (token) query['continuation-token'] = token;
      const xml = (await this.request('ListObjectsV2', 'GET', undefined, { query })).body.toString('utf8');
      for (const entry of blocks(xml, 'Contents')) objects.push({ key: tag(entry, 'Key'), size: Number(tag(entry, 'Size') || 0) });
      if (tag(xml, 'IsTruncated') !== 'true') return objects;
      token = tag(xml, 'NextContinuationToken');
      if (!token) throw new S3Error('ListObjectsV2', 200, 'TruncatedWithoutToken');
    }
    throw new S3Error('ListObjectsV2', 200, 'TooManyPages');
  }

  /** Multipart uploads not completed or aborted under `prefix`: [{key, uploadId}], paged. */
  async listMultipartUploads(prefix) {
    const uploads = [];
    let keyMarker;
    let idMarker;
    for (let page = 0; page < 100; page++) {
      const query = { uploads: '', 'max-uploads': '1000' };
      if (prefix) query.prefix = prefix;
      if (keyMarker) query['key-marker'] = keyMarker;
      if (idMarker) query['upload-id-marker'] = idMarker;
      const xml = (await this.request('ListMultipartUploads', 'GET', undefined, { query })).body.toString('utf8');
      for (const upload of blocks(xml, 'Upload')) uploads.push({ key: tag(upload, 'Key'), uploadId: tag(upload, 'UploadId') });
      if (tag(xml, 'IsTruncated') !== 'true') return uploads;
      keyMarker = tag(xml, 'NextKeyMarker');
      idMarker = tag(xml, 'NextUploadIdMarker');
      if (!keyMarker) throw new S3Error('ListMultipartUploads', 200, 'TruncatedWithoutMarker');
    }
    throw new S3Error('ListMultipartUploads', 200, 'TooManyPages');
  }

  /**
   * What the bucket bills: every object of every prefix, plus the parts already uploaded to multipart
   * uploads not yet completed (R2 stores and bills them too). `byKey` has the bytes per key.
   */
  async usage() {
    const byKey = new Map();
    let total = 0;
    const add = (key, bytes) => {
      total += bytes;
      byKey.set(key, (byKey.get(key) || 0) + bytes);
    };
    for (const object of await this.listObjects('')) add(object.key, object.size);
    for (const upload of await this.listMultipartUploads('')) {
      for (const part of await this.listParts(upload.key, upload.uploadId).catch(notFoundAsEmpty)) add(upload.key, part.size);
    }
    return { total, byKey };
  }

  /** {size, lastModified, contentType} or null when there is no such object. */
  async head(key) {
    try {
      const { headers } = await this.request('HeadObject', 'HEAD', key);
      return {
        size: Number(headers['content-length']),
        lastModified: headers['last-modified'] ? new Date(headers['last-modified']) : null,
        contentType: headers['content-type'] || '',
      };
    } catch (err) {
      if (err instanceof S3Error && err.status === 404) return null;
      throw err;
    }
  }

  getStream(key) {
    return this.request('GetObject', 'GET', key, { stream: true, timeoutMs: 60000 });
  }

  async remove(key) {
    await this.request('DeleteObject', 'DELETE', key);
  }

  /**
   * A server-side copy of `source` to `key` with new metadata (the checked mark, the content type):
   * REPLACE, so nothing the uploader sent along with the bytes is carried over.
   */
  async copy(source, key, { contentType, metadata }) {
    const headers = {
      'x-amz-copy-source': this.objectPath(source).slice(this.basePath.length),
      'x-amz-metadata-directive': 'REPLACE',
      'Content-Type': contentType,
    };
    for (const [name, value] of Object.entries(metadata || {})) headers[`x-amz-meta-${name}`] = value;
    const { body } = await this.request('CopyObject', 'PUT', key, { headers, timeoutMs: 120000 });
    // Like CompleteMultipartUpload, a copy may answer 200 and report an error in the body.
    const text = body.toString('utf8');
    if (/<Error>/.test(text)) throw new S3Error('CopyObject', 200, tag(text, 'Code'));
  }

  async createMultipart(key, contentType) {
    const { body } = await this.request('CreateMultipartUpload', 'POST', key, {
      query: { uploads: '' },
      headers: { 'Content-Type': contentType },
    });
    const uploadId = tag(body.toString('utf8'), 'UploadId');
    if (!uploadId) throw new S3Error('CreateMultipartUpload', 200, 'NoUploadId');
    return uploadId;
  }

  /** Every uploaded part as the bucket knows it: [{partNumber, etag, size}], in order. */
  async listParts(key, uploadId) {
    const parts = [];
    let marker = '0';
    for (let page = 0; page < 100; page++) {
      const query = { uploadId, 'max-parts': '1000', 'part-number-marker': marker };
      const xml = (await this.request('ListParts', 'GET', key, { query })).body.toString('utf8');
      for (const part of blocks(xml, 'Part')) {
        parts.push({ partNumber: Number(tag(part, 'PartNumber')), etag: tag(part, 'ETag'), size: Number(tag(part, 'Size')) });
      }
      if (tag(xml, 'IsTruncated') !== 'true') break;
      marker = tag(xml, 'NextPartNumberMarker');
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipart(key, uploadId, parts) {
    const xml =
      '<CompleteMultipartUpload>' +
      parts.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${xmlEscape(p.etag)}</ETag></Part>`).join('') +
      '</CompleteMultipartUpload>';
    const { body } = await this.request('CompleteMultipartUpload', 'POST', key, {
      query: { uploadId },
      headers: { 'Content-Type': 'application/xml' },
      body: xml,
      timeoutMs: 120000,
    });
    // S3 may answer 200 and still report an error in the body.
    const text = body.toString('utf8');
    if (/<Error>/.test(text)) throw new S3Error('CompleteMultipartUpload', 200, tag(text, 'Code'));
  }

  async abortMultipart(key, uploadId) {
    try {
      await this.request('AbortMultipartUpload', 'DELETE', key, { query: { uploadId } });
    } catch (err) {
      if (!(err instanceof S3Error && err.status === 404)) throw err;
    }
  }
}

module.exports = { S3, S3Error, encodeSegment };
