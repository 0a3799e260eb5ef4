// wal2json (format version 2) does not write an UPDATE or DELETE on a table without a replica identity
// (no primary key and REPLICA IDENTITY DEFAULT, or REPLICA IDENTITY NOTHING): it raises
//   WARNING:  no tuple identifier for UPDATE in table "<schema>"."<table>"
// instead, once per row, in order with the stream. Reading that warning is the only way such a change
// becomes a wakeup (contract R3). wal2json prints both names raw, unescaped, so a name holding `"."` makes the
// split ambiguous; every reading is then nudged: a spurious refetch is harmless, a lost one is not.

import type { ChangeOp } from './change.js';

const PREFIX = 'no tuple identifier for ';
const SEPARATOR = '"."';

/** A relation a wal2json warning names, with the operation wal2json skipped. */
export interface SkippedChange {
  readonly schema: string;
  readonly table: string;
  readonly op: ChangeOp;
}

/**
 * The changes a server notice's message stands for: none unless it is wal2json's "no tuple identifier"
 * warning; one per possible schema/table split of its quoted name (almost always exactly one).
 */
export function skippedChanges(message: string): SkippedChange[] {
  if (!message.startsWith(PREFIX)) return [];
  const rest = message.slice(PREFIX.length);
  let op: ChangeOp;
  let quoted: string;
  if (rest.startsWith('UPDATE in table "')) {
    op = 'update';
    quoted = rest.slice('UPDATE in table "'.length);
  } else if (rest.startsWith('DELETE in table "')) {
    op = 'delete';
    quoted = rest.slice('DELETE in table "'.length);
  } else {
    return [];
  }
  if (!quoted.endsWith('"')) return [];
  const names = quoted.slice(0, -1);
  const changes: SkippedChange[] = [];
  for (let at = names.indexOf(SEPARATOR); at !== -1; at = names.indexOf(SEPARATOR, at + 1)) {
    const schema = names.slice(0, at);
    const table = names.slice(at + SEPARATOR.length);
    if (schema !== '' && table !== '') changes.push({ schema, table, op });
  }
  return changes;
}
