import * as path from 'node:path';

type Middleware = (req: unknown, res: unknown, next: (error?: unknown) => void) => void;
type JsonFactory = ((options?: unknown) => Middleware) & { schedulerPassThrough?: true };

/**
 * functions-framework parses `application/json` bodies before our handler runs, and answers a body that
 * is not valid JSON with express's HTML error page. Our contract is a JSON 400 naming the problem, so
 * its JSON parser is wrapped to let such a request through with only `req.rawBody` set; the run route
 * then rejects it in its own words. Must run before functions-framework builds its server, i.e. when
 * the function module is loaded.
 */
export function passJsonParseErrorsThrough(): void {
  let bodyParser: { json: JsonFactory };
  try {
    const framework = require.resolve('@google-cloud/functions-framework');
    bodyParser = require(require.resolve('body-parser', { paths: [path.dirname(framework)] })) as {
      json: JsonFactory;
    };
  } catch {
    return;
  }
  const original = bodyParser.json;
  if (original.schedulerPassThrough) return;
  const wrapped: JsonFactory = (options) => {
    const middleware = original(options);
    return (req, res, next) =>
      middleware(req, res, (error) => {
        if ((error as { type?: unknown } | undefined)?.type === 'entity.parse.failed') next();
        else next(error);
      });
  };
  wrapped.schedulerPassThrough = true;
  bodyParser.json = wrapped;
}
