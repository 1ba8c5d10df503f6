/**
 * NATS server URLs as users write them: `nats://host:4222`, `host:4222`, and with credentials
 * `nats://user:password@host:4222` or `nats://token@host:4222` (as the nats CLI takes them). The
 * JavaScript client takes credentials only as options, so every connection of ipiscope goes through
 * `natsConnectTarget`; anything printed goes through `redactNatsUrls`.
 */
import { UsageError } from '../stdx/index.js';

export interface NatsConnectTarget {
  /** The URLs without their credentials. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

interface Parsed {
  bare: string;
  user?: string;
  pass?: string;
  token?: string;
}

function decode(part: string, url: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    // Not redactNatsUrl: it parses, which is what failed.
    throw new UsageError(`NATS URL ${url.replace(/\/\/[^@/]*@/, '//***@')}: its credentials are not valid percent-encoding`);
  }
}

function parse(url: string): Parsed {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?(?:([^@/]*)@)?(.*)$/i.exec(url.trim());
  if (m === null) return { bare: url };
  const [, scheme = '', userinfo, rest = ''] = m;
  const bare = `${scheme}${rest}`;
  if (userinfo === undefined) return { bare };
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { bare, token: decode(userinfo, url) };
  return { bare, user: decode(userinfo.slice(0, colon), url), pass: decode(userinfo.slice(colon + 1), url) };
}

/**
 * The connect options for `urls`: the URLs without credentials, and the credentials. URLs without
 * credentials share those of the others; two different sets are refused (one connection has one).
 */
export function natsConnectTarget(urls: readonly string[]): NatsConnectTarget {
  const servers: string[] = [];
  let cred: Parsed | undefined;
  let credUrl = '';
  for (const url of urls) {
    const p = parse(url);
    servers.push(p.bare);
    if (p.user === undefined && p.token === undefined) continue;
    if (cred !== undefined && (cred.user !== p.user || cred.pass !== p.pass || cred.token !== p.token)) {
      throw new UsageError(`NATS URLs ${redactNatsUrl(credUrl)} and ${redactNatsUrl(url)} carry different credentials; one connection uses one set`);
    }
    cred = p;
    credUrl = url;
  }
  const t: NatsConnectTarget = { servers };
  if (cred?.user !== undefined) {
    t.user = cred.user;
    t.pass = cred.pass ?? '';
  }
  if (cred?.token !== undefined) t.token = cred.token;
  return t;
}

/** Whether any of `urls` carries credentials. */
export function natsUrlsHaveCredentials(urls: readonly string[]): boolean {
  return urls.some((u) => {
    const p = parse(u);
    return p.user !== undefined || p.token !== undefined;
  });
}

/** `url` with its password or token shown as `***` (for logs and messages). */
export function redactNatsUrl(url: string): string {
  const p = parse(url);
  if (p.user !== undefined) return p.bare.replace(/^([a-z][a-z0-9+.-]*:\/\/)?/i, (s) => `${s}${encodeURIComponent(p.user as string)}:***@`);
  if (p.token !== undefined) return p.bare.replace(/^([a-z][a-z0-9+.-]*:\/\/)?/i, (s) => `${s}***@`);
  return url;
}

/** `urls` redacted and joined with `sep`. */
export function redactNatsUrls(urls: readonly string[], sep = ','): string {
  return urls.map(redactNatsUrl).join(sep);
}
