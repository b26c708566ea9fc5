import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CRC32C } from '@google-cloud/storage';

/**
 * A Cloud Storage JSON API server on an ephemeral loopback port, in memory, for driving the real
 * @google-cloud/storage client offline (see TESTING-GCP.md §1). It speaks what the client sends:
 * multipart, media and resumable uploads (single-request and chunked, with 308s and status queries),
 * media downloads, object metadata, listing with prefix/delimiter and pagination, deletes,
 * `ifGenerationMatch` preconditions, and the `/b/...` paths used when STORAGE_EMULATOR_HOST is set.
 * Faults can be injected per request and every request is logged.
 */

/**
 * What a faulted request gets instead of (or, with `afterApply`, after) its normal handling.
 * `stallAfterHeaders`: the normal answer's status and headers (Content-Length included), the first
 * `bytes` of its body (default none), then nothing more until the client gives up: a server or a
 * network path that hangs mid-response.
 */
export type Fault =
  | 'reset'
  | { reset: true; afterApply?: boolean }
  | { status: number; afterApply?: boolean; message?: string }
  | { delayMs: number }
  | { stallAfterHeaders: true; bytes?: number };

/** Which requests a fault applies to; every field given must match. */
export interface FaultFilter {
  /** The request kind, see `GcsOp`. */
  op?: GcsOp | GcsOp[];
  method?: string;
  /** Matched against the decoded object name. */
  object?: string | RegExp;
  /** Any other condition, e.g. on `headers['content-range']`. */
  test?: (request: GcsRequest) => boolean;
}

export type GcsOp =
  | 'bucket.get'
  | 'object.get'
  | 'object.media'
  | 'object.list'
  | 'object.delete'
  | 'upload.multipart'
  | 'upload.media'
  | 'upload.start'
  | 'upload.chunk'
  | 'upload.status'
  | 'unknown';

export interface GcsRequest {
  op: GcsOp;
  method: string;
  /** The URL path as sent (still percent-encoded), without the query. */
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  bucket?: string;
  object?: string;
  bodyBytes: number;
  /** The status answered; 'reset' when the server dropped the connection, 'client-closed' when the client did. */
  status: number | 'reset' | 'client-closed';
  fault?: Fault;
}

export interface FakeObject {
  bucket: string;
  name: string;
  data: Buffer;
  generation: string;
  metageneration: string;
  contentType: string;
  metadata: Record<string, string>;
  crc32c: string;
  md5Hash: string;
  timeCreated: string;
  updated: string;
}

export interface GcsServerOptions {
  /** The most items one list page holds (the API's own cap is 1000). @default 1000 */
  pageSize?: number;
}

export interface GcsServer {
  /** `http://127.0.0.1:PORT`: the client's `apiEndpoint`, or the value of STORAGE_EMULATOR_HOST. */
  readonly url: string;
  /** Every request, in arrival order, with what it was answered. */
  readonly requests: GcsRequest[];
  /** The largest list page served, whatever `maxResults` asks; small values force pagination. */
  pageSize: number;
  /** Media downloads leave out `x-goog-generation` (as some emulators do) while this is true. */
  omitGenerationHeader: boolean;
  createBucket(name: string): void;
  deleteBucket(name: string): void;
  object(bucket: string, name: string): FakeObject | undefined;
  objectNames(bucket: string): string[];
  /** Writes an object directly, as another client would; returns its generation. */
  putObject(bucket: string, name: string, data: Buffer | string, contentType?: string): string;
  /** The next `count` requests matching `filter` get `fault` (rules are tried in the order added). */
  failNext(count: number, fault: Fault, filter?: FaultFilter): void;
  /** Faults armed but not yet used. */
  pendingFaults(): number;
  clearFaults(): void;
  /**
   * Called for every request as it arrives, before any fault or handling (may be async): a hook for
   * playing another client at an exact moment.
   */
  onRequest: ((request: GcsRequest) => void | Promise<void>) | null;
  close(): Promise<void>;
}

const KIB_256 = 256 * 1024;

interface Session {
  id: string;
  bucket: string;
  name: string;
  contentType: string;
  metadata: Record<string, string>;
  ifGenerationMatch: string | undefined;
  chunks: Buffer[];
  received: number;
  final: Reply | null;
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string | object;
}

interface FaultRule {
  remaining: number;
  fault: Fault;
  filter: FaultFilter;
}

export async function startGcsServer(options: GcsServerOptions = {}): Promise<GcsServer> {
  const buckets = new Map<string, Map<string, FakeObject>>();
  const sessions = new Map<string, Session>();
  const rules: FaultRule[] = [];
  const requests: GcsRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let generation = Date.now() * 1000;
  let onRequest: GcsServer['onRequest'] = null;

  function nextGeneration(): string {
    generation += 1;
    return String(generation);
  }

  function store(
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    metadata: Record<string, string>,
  ): FakeObject {
    const objects = buckets.get(bucket);
    if (!objects) throw new Error(`no bucket ${bucket}`);
    const crc = new CRC32C();
    crc.update(data);
    const now = new Date().toISOString();
    const previous = objects.get(name);
    const obj: FakeObject = {
      bucket,
      name,
      data,
      generation: nextGeneration(),
      metageneration: '1',
      contentType,
      metadata,
      crc32c: crc.toString(),
      md5Hash: createHash('md5').update(data).digest('base64'),
      timeCreated: previous?.timeCreated ?? now,
      updated: now,
    };
    objects.set(name, obj);
    return obj;
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void serve(req, res, Buffer.concat(chunks)).catch((error: unknown) => {
        if (!res.headersSent) send(res, { status: 500, body: errorBody(500, String(error)) });
      });
    });
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = parseRoute(req.method ?? 'GET', url);
    // A PUT to a session without data (`Content-Range: bytes */N`) asks how much has arrived.
    if (route.op === 'upload.chunk' && /^bytes \*\//.test(header(req, 'content-range') ?? '')) {
      route.op = 'upload.status';
    }
    const record: GcsRequest = {
      op: route.op,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      ...(route.bucket !== undefined ? { bucket: route.bucket } : {}),
      ...(route.object !== undefined ? { object: route.object } : {}),
      bodyBytes: body.length,
      status: 0,
    };
    requests.push(record);
    if (onRequest) await onRequest(record);
    const fault = takeFault(record);
    if (fault) record.fault = fault;
    if (fault && typeof fault === 'object' && 'delayMs' in fault) {
      // A slow server: answer late, or not at all if the client gives up first.
      const gaveUp = await new Promise<boolean>((resolve) => {
        const onClose = (): void => {
          clearTimeout(timer);
          timers.delete(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          timers.delete(timer);
          req.socket.off('close', onClose);
          resolve(false);
        }, fault.delayMs);
        timers.add(timer);
        req.socket.once('close', onClose);
      });
      if (gaveUp) {
        record.status = 'client-closed';
        return;
      }
    }
    if (fault && typeof fault === 'object' && 'stallAfterHeaders' in fault) {
      stall(req, res, handle(route, req, url, body), fault.bytes ?? 0, record);
      return;
    }
    const before =
      fault !== null &&
      typeof fault !== 'string' &&
      !('delayMs' in fault) &&
      !('stallAfterHeaders' in fault) &&
      !fault.afterApply;
    if (fault === 'reset' || (before && 'reset' in fault)) {
      record.status = 'reset';
      req.socket.destroy();
      return;
    }
    if (before && 'status' in fault) {
      record.status = fault.status;
      send(res, {
        status: fault.status,
        body: errorBody(fault.status, fault.message ?? statusText(fault.status)),
      });
      return;
    }
    const reply = handle(route, req, url, body);
    if (fault && typeof fault === 'object' && 'afterApply' in fault && fault.afterApply) {
      if ('reset' in fault) {
        record.status = 'reset';
        req.socket.destroy();
        return;
      }
      record.status = fault.status;
      send(res, {
        status: fault.status,
        body: errorBody(fault.status, fault.message ?? statusText(fault.status)),
      });
      return;
    }
    record.status = reply.status;
    send(res, reply);
  }

  function takeFault(record: GcsRequest): Fault | null {
    for (const rule of rules) {
      if (rule.remaining <= 0 || !matches(rule.filter, record)) continue;
      rule.remaining -= 1;
      if (rule.remaining <= 0) rules.splice(rules.indexOf(rule), 1);
      return rule.fault;
    }
    return null;
  }

  function handle(route: Route, req: http.IncomingMessage, url: URL, body: Buffer): Reply {
    const q = url.searchParams;
    const bucketName = route.bucket;
    if (route.op === 'unknown' || bucketName === undefined) {
      return { status: 404, body: errorBody(404, `Not Found: ${req.method} ${url.pathname}`) };
    }
    const objects = buckets.get(bucketName);
    if (!objects && route.op !== 'upload.chunk' && route.op !== 'upload.status') {
      return { status: 404, body: errorBody(404, 'The specified bucket does not exist.') };
    }
    switch (route.op) {
      case 'bucket.get':
        return { status: 200, body: { kind: 'storage#bucket', id: bucketName, name: bucketName } };
      case 'object.list':
        return { status: 200, body: list(objects!, q) };
      case 'object.get':
      case 'object.media': {
        const obj = objects!.get(route.object!);
        const wanted = q.get('generation');
        if (!obj || (wanted !== null && wanted !== obj.generation))
          return noSuchObject(bucketName, route.object!);
        const failed = precondition(obj, q.get('ifGenerationMatch') ?? undefined);
        if (failed) return failed;
        if (route.op === 'object.get') return { status: 200, body: objectJson(obj) };
        return {
          status: 200,
          headers: {
            'content-type': obj.contentType,
            ...(api.omitGenerationHeader ? {} : { 'x-goog-generation': obj.generation }),
            'x-goog-metageneration': obj.metageneration,
            'x-goog-hash': `crc32c=${obj.crc32c},md5=${obj.md5Hash}`,
            'x-goog-stored-content-encoding': 'identity',
            'x-goog-stored-content-length': String(obj.data.length),
          },
          body: obj.data,
        };
      }
      case 'object.delete': {
        const obj = objects!.get(route.object!);
        const wanted = q.get('generation');
        if (!obj || (wanted !== null && wanted !== obj.generation))
          return noSuchObject(bucketName, route.object!);
        const failed = precondition(obj, q.get('ifGenerationMatch') ?? undefined);
        if (failed) return failed;
        objects!.delete(route.object!);
        return { status: 204 };
      }
      case 'upload.multipart':
      case 'upload.media': {
        let meta: Record<string, unknown> = {};
        let data = body;
        let contentType = String(req.headers['content-type'] ?? 'application/octet-stream');
        if (route.op === 'upload.multipart') {
          const parts = parseMultipart(body, contentType);
          if (!parts) return { status: 400, body: errorBody(400, 'Malformed multipart body.') };
          meta = parts.metadata;
          data = parts.media;
          contentType = typeof meta.contentType === 'string' ? meta.contentType : parts.mediaType;
        }
        const name = q.get('name') ?? (typeof meta.name === 'string' ? meta.name : null);
        if (!name) return { status: 400, body: errorBody(400, 'Required parameter: name') };
        const failed = precondition(objects!.get(name), q.get('ifGenerationMatch') ?? undefined);
        if (failed) return failed;
        const obj = store(bucketName, name, data, contentType, customMetadata(meta));
        return { status: 200, body: objectJson(obj) };
      }
      case 'upload.start': {
        const name = q.get('name');
        if (!name) return { status: 400, body: errorBody(400, 'Required parameter: name') };
        const ifGenerationMatch = q.get('ifGenerationMatch') ?? undefined;
        const failed = precondition(objects!.get(name), ifGenerationMatch);
        if (failed) return failed;
        let meta: Record<string, unknown> = {};
        try {
          meta = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          return { status: 400, body: errorBody(400, 'Invalid JSON metadata.') };
        }
        const id = randomBytes(12).toString('hex');
        sessions.set(id, {
          id,
          bucket: bucketName,
          name,
          contentType:
            (typeof meta.contentType === 'string' ? meta.contentType : undefined) ??
            header(req, 'x-upload-content-type') ??
            'application/octet-stream',
          metadata: customMetadata(meta),
          ifGenerationMatch,
          chunks: [],
          received: 0,
          final: null,
        });
        const host = req.headers.host ?? '127.0.0.1';
        const location =
          `http://${host}/upload/storage/v1/b/${encodeURIComponent(bucketName)}/o` +
          `?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        return { status: 200, headers: { location }, body: '' };
      }
      case 'upload.chunk':
      case 'upload.status':
        return uploadPut(q, req, body);
    }
  }

  function uploadPut(q: URLSearchParams, req: http.IncomingMessage, body: Buffer): Reply {
    const session = sessions.get(q.get('upload_id') ?? '');
    if (!session) return { status: 404, body: errorBody(404, 'No such upload session.') };
    if (session.final) return session.final;
    const range = header(req, 'content-range') ?? '';
    const status = /^bytes \*\/(\*|\d+)$/.exec(range);
    if (status) {
      if (status[1] !== '*' && Number(status[1]) === session.received) return finish(session);
      return incomplete(session);
    }
    const m = /^bytes (\d+)-(\d+|\*)\/(\d+|\*)$/.exec(range);
    if (!m) return { status: 400, body: errorBody(400, `Bad Content-Range: "${range}"`) };
    const start = Number(m[1]);
    const end = m[2] === '*' ? null : Number(m[2]);
    const total = m[3] === '*' ? null : Number(m[3]);
    if (end !== null && end - start + 1 !== body.length) {
      return {
        status: 400,
        body: errorBody(400, `Content-Range ${range} does not match ${body.length} bytes`),
      };
    }
    if (start > session.received) {
      return {
        status: 400,
        body: errorBody(400, `Offset ${start} is past the ${session.received} bytes received`),
      };
    }
    const isFinal = end === null || (total !== null && end + 1 === total);
    if (!isFinal && body.length % KIB_256 !== 0) {
      return { status: 400, body: errorBody(400, 'Non-final chunks must be a multiple of 256 KiB.') };
    }
    const fresh = body.subarray(session.received - start);
    session.chunks.push(fresh);
    session.received += fresh.length;
    if (end === null && total === null) return finish(session);
    if (total !== null && session.received >= total) return finish(session);
    if (end === null) return { status: 400, body: errorBody(400, `Upload ended short of ${total} bytes`) };
    return incomplete(session);
  }

  function finish(session: Session): Reply {
    const objects = buckets.get(session.bucket);
    if (!objects) {
      session.final = { status: 404, body: errorBody(404, 'The specified bucket does not exist.') };
      return session.final;
    }
    const failed = precondition(objects.get(session.name), session.ifGenerationMatch);
    if (failed) {
      session.final = failed;
      return failed;
    }
    const obj = store(
      session.bucket,
      session.name,
      Buffer.concat(session.chunks),
      session.contentType,
      session.metadata,
    );
    session.chunks = [];
    session.final = { status: 200, body: objectJson(obj) };
    return session.final;
  }

  function list(objects: Map<string, FakeObject>, q: URLSearchParams): object {
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter');
    const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8') : null;
    const limit = Math.min(Number(q.get('maxResults') ?? 1000) || 1000, api.pageSize);
    const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort();
    const entries: { name: string; prefix: boolean }[] = [];
    for (const name of names) {
      const cut = delimiter ? name.indexOf(delimiter, prefix.length) : -1;
      const entry =
        cut >= 0 ? { name: name.slice(0, cut + delimiter!.length), prefix: true } : { name, prefix: false };
      if (entries.at(-1)?.name !== entry.name) entries.push(entry);
    }
    const rest = after === null ? entries : entries.filter((e) => e.name > after);
    const page = rest.slice(0, limit);
    const items = page.filter((e) => !e.prefix).map((e) => objectJson(objects.get(e.name)!));
    const prefixes = page.filter((e) => e.prefix).map((e) => e.name);
    return {
      kind: 'storage#objects',
      ...(items.length > 0 ? { items } : {}),
      ...(prefixes.length > 0 ? { prefixes } : {}),
      ...(rest.length > limit ? { nextPageToken: Buffer.from(page.at(-1)!.name).toString('base64url') } : {}),
    };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const api: GcsServer = {
    url: `http://127.0.0.1:${port}`,
    requests,
    pageSize: options.pageSize ?? 1000,
    omitGenerationHeader: false,
    createBucket(name) {
      if (!buckets.has(name)) buckets.set(name, new Map());
    },
    deleteBucket(name) {
      buckets.delete(name);
    },
    object: (bucket, name) => buckets.get(bucket)?.get(name),
    objectNames: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    putObject(bucket, name, data, contentType = 'application/octet-stream') {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      return store(bucket, name, buf, contentType, {}).generation;
    },
    failNext(count, fault, filter = {}) {
      if (count > 0) rules.push({ remaining: count, fault, filter });
    },
    pendingFaults: () => rules.reduce((n, r) => n + r.remaining, 0),
    clearFaults() {
      rules.splice(0);
    },
    get onRequest() {
      return onRequest;
    },
    set onRequest(hook) {
      onRequest = hook;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}

interface Route {
  op: GcsOp;
  bucket?: string;
  object?: string;
}

/**
 * JSON API paths come as `/storage/v1/b/...` (apiEndpoint form) or `/b/...` (STORAGE_EMULATOR_HOST
 * form); uploads always as `/upload/storage/v1/b/...`; media downloads may use `/download/storage/v1`.
 */
function parseRoute(method: string, url: URL): Route {
  const path = url.pathname;
  let rest: string;
  let kind: 'api' | 'upload' | 'download';
  if (path.startsWith('/upload/storage/v1/b/')) {
    kind = 'upload';
    rest = path.slice('/upload/storage/v1/b/'.length);
  } else if (path.startsWith('/download/storage/v1/b/')) {
    kind = 'download';
    rest = path.slice('/download/storage/v1/b/'.length);
  } else if (path.startsWith('/storage/v1/b/')) {
    kind = 'api';
    rest = path.slice('/storage/v1/b/'.length);
  } else if (path.startsWith('/b/')) {
    kind = 'api';
    rest = path.slice('/b/'.length);
  } else {
    return { op: 'unknown' };
  }
  const slash = rest.indexOf('/');
  const bucket = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
  const tail = slash < 0 ? '' : rest.slice(slash);
  if (kind === 'upload') {
    if (tail !== '/o') return { op: 'unknown', bucket };
    if (method === 'POST') {
      const type = url.searchParams.get('uploadType');
      const op =
        type === 'resumable' ? 'upload.start' : type === 'multipart' ? 'upload.multipart' : 'upload.media';
      return { op, bucket };
    }
    if (method === 'PUT') {
      return { op: url.searchParams.get('upload_id') ? 'upload.chunk' : 'unknown', bucket };
    }
    return { op: 'unknown', bucket };
  }
  if (tail === '' && method === 'GET') return { op: 'bucket.get', bucket };
  if (tail === '/o' && method === 'GET') return { op: 'object.list', bucket };
  if (tail.startsWith('/o/')) {
    const object = decodeURIComponent(tail.slice(3));
    if (method === 'DELETE') return { op: 'object.delete', bucket, object };
    if (method === 'GET') {
      const media = kind === 'download' || url.searchParams.get('alt') === 'media';
      return { op: media ? 'object.media' : 'object.get', bucket, object };
    }
  }
  return { op: 'unknown', bucket };
}

function matches(filter: FaultFilter, record: GcsRequest): boolean {
  if (filter.method && filter.method.toUpperCase() !== record.method) return false;
  if (filter.op) {
    const ops = Array.isArray(filter.op) ? filter.op : [filter.op];
    if (!ops.includes(record.op)) return false;
  }
  if (filter.object !== undefined) {
    if (record.object === undefined && record.query.name === undefined) return false;
    const name = record.object ?? record.query.name ?? '';
    if (typeof filter.object === 'string' ? filter.object !== name : !filter.object.test(name)) return false;
  }
  return filter.test === undefined || filter.test(record);
}

function precondition(current: FakeObject | undefined, ifGenerationMatch: string | undefined): Reply | null {
  if (ifGenerationMatch === undefined) return null;
  const ok = ifGenerationMatch === '0' ? current === undefined : current?.generation === ifGenerationMatch;
  if (ok) return null;
  return {
    status: 412,
    body: errorBody(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet'),
  };
}

function incomplete(session: Session): Reply {
  return {
    status: 308,
    headers: session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {},
    body: '',
  };
}

function noSuchObject(bucket: string, name: string): Reply {
  return { status: 404, body: errorBody(404, `No such object: ${bucket}/${name}`) };
}

function objectJson(obj: FakeObject): object {
  return {
    kind: 'storage#object',
    id: `${obj.bucket}/${obj.name}/${obj.generation}`,
    name: obj.name,
    bucket: obj.bucket,
    generation: obj.generation,
    metageneration: obj.metageneration,
    contentType: obj.contentType,
    size: String(obj.data.length),
    md5Hash: obj.md5Hash,
    crc32c: obj.crc32c,
    timeCreated: obj.timeCreated,
    updated: obj.updated,
    ...(Object.keys(obj.metadata).length > 0 ? { metadata: obj.metadata } : {}),
  };
}

function customMetadata(meta: Record<string, unknown>): Record<string, string> {
  const raw = meta.metadata;
  if (!raw || typeof raw !== 'object') return {};
  return Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
}

function errorBody(code: number, message: string, reason = reasonOf(code)): object {
  return { error: { code, message, errors: [{ message, domain: 'global', reason }] } };
}

function reasonOf(code: number): string {
  if (code === 404) return 'notFound';
  if (code === 403) return 'forbidden';
  if (code === 429) return 'rateLimitExceeded';
  if (code >= 500) return 'backendError';
  return 'invalid';
}

function statusText(code: number): string {
  return http.STATUS_CODES[code] ?? `HTTP ${code}`;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function send(res: http.ServerResponse, reply: Reply): void {
  const { body, headers } = encode(reply);
  res.writeHead(reply.status, headers);
  res.end(body);
}

/** Sends the reply's head and first `bytes` of body, then holds the connection until the client closes it. */
function stall(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  reply: Reply,
  bytes: number,
  record: GcsRequest,
): void {
  const { body, headers } = encode(reply);
  res.writeHead(reply.status, headers);
  res.flushHeaders();
  if (bytes > 0) res.write(body.subarray(0, Math.min(bytes, body.length - 1)));
  record.status = reply.status;
  req.socket.once('close', () => {
    record.status = 'client-closed';
  });
}

function encode(reply: Reply): { body: Buffer; headers: Record<string, string> } {
  const body =
    reply.body === undefined
      ? Buffer.alloc(0)
      : Buffer.isBuffer(reply.body)
        ? reply.body
        : typeof reply.body === 'string'
          ? Buffer.from(reply.body, 'utf8')
          : Buffer.from(JSON.stringify(reply.body), 'utf8');
  const headers: Record<string, string> = {
    ...(reply.body !== undefined && !Buffer.isBuffer(reply.body) && typeof reply.body === 'object'
      ? { 'content-type': 'application/json; charset=UTF-8' }
      : {}),
    ...reply.headers,
    'content-length': String(body.length),
  };
  return { body, headers };
}

/** Splits a `multipart/related` upload into its JSON metadata part and its media part. */
function parseMultipart(
  body: Buffer,
  contentType: string,
): { metadata: Record<string, unknown>; media: Buffer; mediaType: string } | null {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) return null;
    parts.push(body.subarray(start, next));
    at = next;
  }
  if (parts.length !== 2) return null;
  const split = (part: Buffer): { headers: string; content: Buffer } => {
    const sep = part.indexOf('\r\n\r\n');
    let content = part.subarray(sep + 4);
    if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
    return { headers: part.subarray(0, sep).toString('utf8'), content };
  };
  const meta = split(parts[0]!);
  const media = split(parts[1]!);
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(meta.content.toString('utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const mediaType =
    /content-type:\s*([^\r\n]+)/i.exec(media.headers)?.[1]?.trim() ?? 'application/octet-stream';
  return { metadata, media: media.content, mediaType };
}
