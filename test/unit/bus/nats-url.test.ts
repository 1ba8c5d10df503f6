// Goal: NATS URLs with credentials, as users write them, become the client's connect options, and
// what ipiscope prints never shows a password or token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natsConnectTarget, natsUrlsHaveCredentials, redactNatsUrl, redactNatsUrls } from '../../../services/bus/nats-url.js';

test('plain URLs pass through, without credentials', () => {
  assert.deepEqual(natsConnectTarget(['nats://127.0.0.1:4222', 'host-b:4223']), { servers: ['nats://127.0.0.1:4222', 'host-b:4223'] });
  assert.equal(natsUrlsHaveCredentials(['nats://127.0.0.1:4222']), false);
  assert.equal(redactNatsUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
});

test('user and password (percent-encoded) come out of the URL; the others share them', () => {
  const t = natsConnectTarget(['nats://alice:p%40ss%3Aw0rd@n1:4222', 'nats://n2:4222', 'nats://alice:p%40ss%3Aw0rd@n3:4222']);
  assert.deepEqual(t, { servers: ['nats://n1:4222', 'nats://n2:4222', 'nats://n3:4222'], user: 'alice', pass: 'p@ss:w0rd' });
  assert.equal(natsUrlsHaveCredentials(['nats://n2:4222', 'nats://alice:x@n1:4222']), true);
});

test('a token alone before the @', () => {
  assert.deepEqual(natsConnectTarget(['nats://s3cr3t@127.0.0.1:4222']), { servers: ['nats://127.0.0.1:4222'], token: 's3cr3t' });
  assert.deepEqual(natsConnectTarget(['s3cr3t@127.0.0.1:4222']), { servers: ['127.0.0.1:4222'], token: 's3cr3t' });
});

test('two different sets of credentials are refused, naming both URLs without their secrets', () => {
  assert.throws(
    () => natsConnectTarget(['nats://a:pw-first@n1:4222', 'nats://b:pw-second@n2:4222']),
    (e: Error) => /nats:\/\/a:\*\*\*@n1:4222 and nats:\/\/b:\*\*\*@n2:4222 carry different credentials/.test(e.message) && !/pw-/.test(e.message),
  );
  assert.throws(() => natsConnectTarget(['nats://a:%E0%A4%A@n1:4222']), /not valid percent-encoding/);
});

test('printed URLs hide the password and the token', () => {
  assert.equal(redactNatsUrl('nats://alice:p%40ss@n1:4222'), 'nats://alice:***@n1:4222');
  assert.equal(redactNatsUrl('nats://s3cr3t@n1:4222'), 'nats://***@n1:4222');
  assert.equal(redactNatsUrls(['nats://a:b@n1:1', 'n2:2'], ', '), 'nats://a:***@n1:1, n2:2');
});
