/** The transport-neutral request and response the routes work with (functions-framework or node:http). */
export interface AppRequest {
  method: string;
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  body: Buffer | undefined;
  /** The query string's parameters (the first value of a repeated one). */
  query?: Readonly<Record<string, string | undefined>>;
  /** Aborted when the caller goes away before the answer (set by the embedded server only). */
  signal?: AbortSignal;
}

export interface AppResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type AppHandler = (request: AppRequest) => Promise<AppResponse>;

export function header(request: AppRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A route of the operations pages: the history API and the report pages. */
export type OpsRoute = { kind: 'history' } | { kind: 'ui-list' } | { kind: 'ui-execution'; id: string };
