// ---------------------------------------------------------------------------------------------------
// Messages as decoded by @grpc/proto-loader ({ longs: String, enums: String, oneofs: true }).

export interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}
export type Duration = Timestamp;
export const HTTP_METHODS = ['POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface OidcTokenMessage {
  serviceAccountEmail?: string;
  audience?: string;
}
export interface OAuthTokenMessage {
  serviceAccountEmail?: string;
  scope?: string;
}
export interface HttpRequestMessage {
  url?: string;
  httpMethod?: HttpMethod | 'HTTP_METHOD_UNSPECIFIED';
  headers?: Record<string, string>;
  body?: Buffer;
  oidcToken?: OidcTokenMessage;
  oauthToken?: OAuthTokenMessage;
  authorizationHeader?: 'oidcToken' | 'oauthToken';
}
export interface RpcStatusMessage {
  code?: number;
  message?: string;
}
export interface AttemptMessage {
  scheduleTime?: Timestamp;
  dispatchTime?: Timestamp;
  responseTime?: Timestamp;
  responseStatus?: RpcStatusMessage;
}
export type TaskView = 'VIEW_UNSPECIFIED' | 'BASIC' | 'FULL';
export interface TaskMessage {
  name?: string;
  httpRequest?: HttpRequestMessage;
  appEngineHttpRequest?: Record<string, unknown>;
  messageType?: 'httpRequest' | 'appEngineHttpRequest';
  scheduleTime?: Timestamp;
  createTime?: Timestamp;
  dispatchDeadline?: Duration;
  dispatchCount?: number;
  responseCount?: number;
  firstAttempt?: AttemptMessage;
  lastAttempt?: AttemptMessage;
  view?: TaskView;
}
export interface RateLimitsMessage {
  maxDispatchesPerSecond?: number;
  maxBurstSize?: number;
  maxConcurrentDispatches?: number;
}
export interface RetryConfigMessage {
  maxAttempts?: number;
  maxRetryDuration?: Duration;
  minBackoff?: Duration;
  maxBackoff?: Duration;
  maxDoublings?: number;
}
export type QueueStateName = 'STATE_UNSPECIFIED' | 'RUNNING' | 'PAUSED' | 'DISABLED';
export interface QueueMessage {
  name?: string;
  rateLimits?: RateLimitsMessage;
  retryConfig?: RetryConfigMessage;
  state?: QueueStateName;
  purgeTime?: Timestamp;
  stackdriverLoggingConfig?: { samplingRatio?: number };
}
/** The union of the CloudTasks request messages' fields. */
export interface TasksRequestMessage {
  parent?: string;
  name?: string;
  task?: TaskMessage;
  queue?: QueueMessage;
  updateMask?: { paths?: string[] };
  responseView?: TaskView;
  pageSize?: number;
  pageToken?: string;
  filter?: string;
}
