// The response to AuthenticationMD5Password (PG docs §55.3.1 "Authentication"): 'md5' + md5(md5(password + user) + salt).

import { createHash } from 'node:crypto';

/** Computes the PasswordMessage text for MD5 authentication, user and password as UTF-8. */
export function md5PasswordMessage(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'latin1').update(salt).digest('hex');
  return `md5${outer}`;
}
