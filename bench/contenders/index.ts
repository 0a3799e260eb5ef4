// Every contender of the comparison, in the order the table lists them.
import type { Contender } from './contender.js';
import { notifyTrigger } from './notify-trigger.js';
import { pgLogicalReplication } from './pg-logical-replication.js';
import { pgRecvlogical } from './pg-recvlogical.js';
import { pgnudge } from './pgnudge.js';
import { polling } from './polling.js';
import { postgresjsSubscribe } from './postgresjs-subscribe.js';

export const CONTENDERS: readonly Contender[] = [
  pgnudge('wal2json'),
  pgnudge('test_decoding'),
  postgresjsSubscribe,
  pgLogicalReplication,
  notifyTrigger,
  polling,
  pgRecvlogical('wal2json'),
  pgRecvlogical('test_decoding'),
];

export function contenderNamed(name: string): Contender {
  const found = CONTENDERS.find((contender) => contender.name === name);
  if (found === undefined) throw new Error(`no contender named ${name}`);
  return found;
}
