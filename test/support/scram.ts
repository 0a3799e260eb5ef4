// SCRAM's key derivation done at once, for tests that drive ScramClient or StartupMachine by hand (the
// connection runs it on the thread pool instead).
import { pbkdf2Sync } from 'node:crypto';
import type { ScramClient, ScramKeyRequest } from '../../src/protocol/scram.js';

export function deriveNow(request: ScramKeyRequest): Buffer {
  return pbkdf2Sync(request.password, request.salt, request.iterations, request.keyLength, request.digest);
}

/** receiveServerFirst, the derivation, and clientFinal: the client-final message for `serverFirst`. */
export function answerServerFirst(client: ScramClient, serverFirst: Uint8Array): Uint8Array {
  return client.clientFinal(deriveNow(client.receiveServerFirst(serverFirst)));
}
