import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { SecretManagerClientOptions } from '../../src/secrets/secret-manager';

/**
 * Secret Manager over gRPC on an ephemeral loopback port, serving the service definition from the
 * package's own protos, so the real SecretManagerServiceClient talks to it unchanged. It implements
 * AccessSecretVersion (versions by number or `latest`; NOT_FOUND like the real service) with fault
 * injection: the next N calls answer a status (UNAVAILABLE by default), or hang until released.
 */
export interface AccessRequest {
  name: string;
  metadata: Record<string, unknown>;
}

export interface SecretManagerServer {
  port: number;
  /** Options for SecretManagerSource / SecretManagerServiceClient: this server, insecure channel. */
  clientOptions: SecretManagerClientOptions;
  requests: AccessRequest[];
  /** Adds a version to `projects/P/secrets/S` and answers its full version name. */
  addVersion(secret: string, value: string | Buffer): string;
  /** The next `count` calls answer `code` with `details`. */
  failNext(count: number, code?: grpc.status, details?: string): void;
  /** The next `count` calls get no answer until `release()`, which answers them normally. */
  hangNext(count: number): void;
  release(): void;
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

interface GrpcPackage {
  google: {
    cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } };
  };
}

let definition: grpc.ServiceDefinition | null = null;

function serviceDefinition(): grpc.ServiceDefinition {
  if (!definition) {
    const json = require('@google-cloud/secret-manager/build/protos/protos.json') as Parameters<
      typeof protoLoader.fromJSON
    >[0];
    const pkg = grpc.loadPackageDefinition(
      protoLoader.fromJSON(json, { longs: String, enums: String, oneofs: true }),
    ) as unknown as GrpcPackage;
    definition = pkg.google.cloud.secretmanager.v1.SecretManagerService.service;
  }
  return definition;
}

export async function startSecretManagerServer(): Promise<SecretManagerServer> {
  const versions = new Map<string, Buffer[]>();
  const requests: AccessRequest[] = [];
  const faults: { code: grpc.status | 'hang'; details: string; remaining: number }[] = [];
  const held: (() => void)[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];

  const answer = (name: string, callback: grpc.sendUnaryData<unknown>) => {
    const match = /^(projects\/[^/]+\/secrets\/[^/]+)\/versions\/([^/]+)$/.exec(name);
    const list = match ? versions.get(match[1] ?? '') : undefined;
    const version = match?.[2] === 'latest' ? list?.length : Number(match?.[2]);
    const data = list && version ? list[version - 1] : undefined;
    if (!match || !data || version === undefined) {
      callback({
        code: grpc.status.NOT_FOUND,
        details: `Secret Version [${name}] not found or has no versions.`,
      });
      return;
    }
    callback(null, { name: `${match[1]}/versions/${version}`, payload: { data } });
  };

  const server = new grpc.Server();
  server.addService(serviceDefinition(), {
    accessSecretVersion(
      call: grpc.ServerUnaryCall<{ name: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) {
      const name = call.request.name;
      requests.push({ name, metadata: call.metadata.getMap() });
      for (const w of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      const fault = faults[0];
      if (fault) {
        if (--fault.remaining <= 0) faults.shift();
        if (fault.code === 'hang') {
          held.push(() => answer(name, callback));
          return;
        }
        callback({ code: fault.code, details: fault.details });
        return;
      }
      answer(name, callback);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );

  return {
    port,
    clientOptions: {
      apiEndpoint: '127.0.0.1',
      port,
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    },
    requests,
    addVersion(secret, value) {
      const list = versions.get(secret) ?? [];
      list.push(Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'));
      versions.set(secret, list);
      return `${secret}/versions/${list.length}`;
    },
    failNext(count, code = grpc.status.UNAVAILABLE, details = 'Secret Manager is unavailable (test fault)') {
      faults.push({ code, details, remaining: count });
    },
    hangNext(count) {
      faults.push({ code: 'hang', details: '', remaining: count });
    },
    release: () => held.splice(0).forEach((answer) => answer()),
    waitForRequests: (count) =>
      requests.length >= count
        ? Promise.resolve()
        : new Promise<void>((resolve) => waiters.push({ count, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        held.splice(0);
        server.forceShutdown();
        resolve();
      }),
  };
}
