/**
 * The error taxonomy (src/azure/errors.ts): every thrown error is exactly one of platform / refusal /
 * bug, decided by status, code and the error's class — never by its message.
 */
import { RestError } from '@azure/core-rest-pipeline';
import {
  AggregateAuthenticationError,
  AuthenticationError,
  CredentialUnavailableError,
} from '@azure/identity';
import { InvalidKeyVaultUrlError } from '../../src/azure/clients';
import { classifyError, InvariantError } from '../../src/azure/errors';
import { refusalOrThrow } from '../../src/azure/results';

const rest = (statusCode: number | undefined, code?: string) =>
  new RestError(`Azure says something ${statusCode ?? ''}\nsecond line`, {
    ...(statusCode !== undefined ? { statusCode } : {}),
    ...(code ? { code } : {}),
  });

/** What MSAL puts under CredentialUnavailableError: a ServerError carrying the endpoint's HTTP status. */
const msalServerError = (status: number) =>
  Object.assign(new Error('Error(s): NOT_AVAILABLE - Description: Injected'), {
    name: 'ServerError',
    status,
  });

describe('classifyError', () => {
  it('a TypeError is a bug, with its stack', () => {
    let thrown: unknown;
    const read = (o: { x: number } | undefined) => (o as { x: number }).x;
    try {
      read(undefined);
    } catch (e) {
      thrown = e;
    }
    const c = classifyError(thrown);
    expect(c).toMatchObject({ class: 'bug', code: 'TypeError' });
    expect(c.stack).toContain('azure-errors.test.ts');
  });

  it.each([
    [503, 'ServiceUnavailable'],
    [500, 'InternalServerError'],
    [429, 'TooManyRequests'],
    [408, 'RequestTimeout'],
  ])('RestError %i %s is a platform fault', (status, code) => {
    expect(classifyError(rest(status, code))).toEqual({
      class: 'platform',
      code,
      status,
      detail: `${status} ${code}: Azure says something ${status}`,
    });
  });

  it('403 AuthorizationFailed is a refusal carrying status and code', () => {
    expect(classifyError(rest(403, 'AuthorizationFailed'))).toMatchObject({
      class: 'refusal',
      code: 'AuthorizationFailed',
      status: 403,
    });
  });

  it('a 4xx without a code is a refusal named after its status', () => {
    expect(classifyError(rest(404))).toMatchObject({ class: 'refusal', code: 'Http404', status: 404 });
  });

  it.each(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'REQUEST_SEND_ERROR'])(
    'a request that got no answer (%s) is a platform fault',
    (code) => {
      expect(classifyError(rest(undefined, code))).toMatchObject({ class: 'platform', code });
    },
  );

  it('an aborted request (timeout) is a platform fault', () => {
    const abort = Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    expect(classifyError(abort)).toMatchObject({ class: 'platform', code: 'AbortError' });
  });

  it('the managed identity endpoint answering 503 is a platform fault', () => {
    const e = new CredentialUnavailableError('ManagedIdentityCredential: Authentication failed.', {
      cause: msalServerError(503),
    });
    expect(classifyError(e)).toMatchObject({
      class: 'platform',
      code: 'CredentialUnavailableError',
      status: 503,
    });
  });

  it('the identity endpoint unreachable (MSAL network_error) is a platform fault', () => {
    const cause = Object.assign(new Error('network'), {
      name: 'ClientAuthError',
      errorCode: 'network_error',
    });
    const e = new CredentialUnavailableError('ManagedIdentityCredential: Network unreachable.', { cause });
    expect(classifyError(e).class).toBe('platform');
  });

  it('a credential that is not configured is a refusal with the fix', () => {
    const c = classifyError(new CredentialUnavailableError('No managed identity endpoint found.'));
    expect(c).toMatchObject({ class: 'refusal', code: 'CredentialUnavailableError' });
    expect(c.fix).toContain('IDENTITY_ENDPOINT');
  });

  it('AuthenticationError: 400 is a refusal, 503 a platform fault', () => {
    expect(classifyError(new AuthenticationError(400, { error: 'invalid_request' }))).toMatchObject({
      class: 'refusal',
      status: 400,
    });
    expect(classifyError(new AuthenticationError(503, 'down'))).toMatchObject({
      class: 'platform',
      status: 503,
    });
  });

  it('DefaultAzureCredential: one platform fault among unavailable credentials is a platform fault', () => {
    const e = new AggregateAuthenticationError([
      new CredentialUnavailableError('EnvironmentCredential is unavailable.'),
      new AuthenticationError(503, 'down'),
    ]);
    expect(classifyError(e)).toMatchObject({ class: 'platform', code: 'AggregateAuthenticationError' });
    expect(
      classifyError(new AggregateAuthenticationError([new CredentialUnavailableError('none here')])).class,
    ).toBe('refusal');
  });

  it('our own refusal to follow a foreign Key Vault URL is a refusal', () => {
    expect(
      classifyError(new InvalidKeyVaultUrlError('https://evil.example/keys/k', 'vault.azure.net')),
    ).toMatchObject({
      class: 'refusal',
      code: 'InvalidKeyVaultUrl',
    });
  });

  it('an invariant of ours, a thrown string, an error that merely mentions a status: bugs', () => {
    expect(classifyError(new InvariantError('plan without vault id')).class).toBe('bug');
    expect(classifyError('boom')).toMatchObject({ class: 'bug', code: 'Error', detail: 'Error: boom' });
    // No message is read for the decision: these words decide nothing.
    expect(classifyError(new Error('503 Service Unavailable ECONNRESET socket hang up')).class).toBe('bug');
  });

  it('an error response with a status below 400 (a body that would not parse) is not a refusal', () => {
    expect(classifyError(rest(200, 'PARSE_ERROR')).class).toBe('bug');
  });
});

describe('refusalOrThrow', () => {
  it('returns refusals, rethrows platform faults and bugs', () => {
    expect(refusalOrThrow(rest(404, 'ResourceNotFound'))).toEqual({
      ok: false,
      status: 404,
      code: 'ResourceNotFound',
      detail: '404 ResourceNotFound: Azure says something 404',
    });
    const fault = rest(503, 'ServiceUnavailable');
    expect(() => refusalOrThrow(fault)).toThrow(fault);
    const bug = new TypeError("Cannot read properties of undefined (reading 'keys')");
    expect(() => refusalOrThrow(bug)).toThrow(bug);
  });
});
