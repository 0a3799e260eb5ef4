// docs/contract.md is what source comments, tests and docs cite: it must define every rule and section
// once and in order, and every citation anywhere in the repository must resolve to it in the one form
// `contract R7` (scripts/contract-citations.mjs holds the grammar and rewrites the old forms).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../support/repo.js';

interface Citations {
  contractTargets(text: string): Set<string>;
  citationProblems(text: string, targets: Set<string>, options?: { ownForm?: boolean }): string[];
  rewriteCitations(text: string): string;
  citationFiles(): string[];
  CONTRACT_PATH: string;
}

const citations = (await import(
  pathToFileURL(repoPath('scripts', 'contract-citations.mjs')).href
)) as Citations;
const contract = readFileSync(repoPath(citations.CONTRACT_PATH), 'utf8');
const targets = citations.contractTargets(contract);

describe('docs/contract.md', () => {
  test('defines rules R1–R32 and sections §1–§13, each once and in order', () => {
    const rules = [...contract.matchAll(/^- \*\*(R\d+)\*\*/gm)].map((match) => match[1]);
    const sections = [...contract.matchAll(/^## (§\d+) /gm)].map((match) => match[1]);
    assert.deepEqual(
      rules,
      Array.from({ length: 32 }, (_, i) => `R${i + 1}`),
    );
    assert.deepEqual(
      sections,
      Array.from({ length: 13 }, (_, i) => `§${i + 1}`),
    );
  });

  test('marks each rule of Part II that is not built yet as planned, and none of Part I', () => {
    const [partOne, partTwo] = contract.split(/^# Part II/m);
    assert.ok(partOne && partTwo, 'the contract has a Part II');
    assert.doesNotMatch(partOne, /planned\)/i, 'Part I describes what exists');
    let rules = 0;
    for (const [, rule, text = ''] of partTwo.matchAll(/^- \*\*(R\d+)\*\*(.*)$/gm)) {
      rules += 1;
      // One spelling, right after the number, so that the lead can flip it and a reader can grep it.
      if (/planned/i.test(text))
        assert.match(text, /^ \*\(planned\)\* \S/, `${rule}: write *(planned)* first`);
    }
    assert.equal(rules, 13, 'Part II holds R20–R32');
  });

  test('cites only its own rules and sections', () => {
    assert.deepEqual(citations.citationProblems(contract, targets, { ownForm: false }), []);
  });
});

describe('citations of the contract', () => {
  test('every file cites rules and sections that exist, in the one form, and never SPEC', () => {
    const files = citations.citationFiles();
    for (const expected of ['README.md', 'docs/api.md', 'src/feed/items.ts', 'test/live/feed.test.ts']) {
      assert.ok(files.includes(expected), `${expected} is scanned`);
    }
    const problems = files.flatMap((file) =>
      citations.citationProblems(readFileSync(repoPath(file), 'utf8'), targets).map((p) => `${file} ${p}`),
    );
    assert.deepEqual(problems, [], 'node scripts/contract-citations.mjs --fix rewrites the mechanical ones');
  });

  test('the checker finds each wrong form', () => {
    const problems = (text: string) => citations.citationProblems(text, targets);
    assert.deepEqual(problems('// retried with backoff (contract R7, R11) as contract §3 says'), []);
    assert.deepEqual(
      problems('// the oracle (contract R1–R8, R11), a resync covers it (contract R1/R7)'),
      [],
    );
    assert.deepEqual(problems('// a list (contract §3,\n// R1–R4, R13–R15) across lines'), []);
    assert.deepEqual(
      problems('// PG docs §55.2 "Message Flow", §55.7 framing; RFC 3454 §6; RFC 5929 §4.1'),
      [],
    );
    assert.match(problems('// (SPEC R7)').join('\n'), /"SPEC" names a file/);
    assert.match(problems('// retried (R7)').join('\n'), /R7 is cited without "contract"/);
    assert.match(problems('// see §6').join('\n'), /§6 is cited without "contract"/);
    assert.match(problems('// (contract R33)').join('\n'), /R33 is not a rule or section/);
    assert.match(problems('// (contract §14)').join('\n'), /§14 is not a rule or section/);
    assert.match(problems('// (contract R9–R4)').join('\n'), /the range R9–R4 must run upwards/);
  });

  test('--fix rewrites the old and bare forms, and leaves other documents’ sections alone', () => {
    const cases: [string, string][] = [
      ['// (SPEC R11)', '// (contract R11)'],
      ['// (SPEC §3, R7, R10, R11)', '// (contract §3, R7, R10, R11)'],
      ["describe('R11: a cause', ...)", "describe('contract R11: a cause', ...)"],
      ['// covers it, R1/R7. And R16 with', '// covers it, contract R1/R7. And contract R16 with'],
      ['// (SPEC R4–R6, R9): coalesces', '// (contract R4–R6, R9): coalesces'],
      ["// R15's fallback", "// contract R15's fallback"],
      ['// (R1–R4,\n// R13–R15, R8)', '// (contract R1–R4,\n// R13–R15, R8)'],
      [
        '// (PG docs §55.7 "Message Formats"); RFC 3454 §6',
        '// (PG docs §55.7 "Message Formats"); RFC 3454 §6',
      ],
      ['// already (contract R7)', '// already (contract R7)'],
    ];
    for (const [before, after] of cases) {
      assert.equal(citations.rewriteCitations(before), after, before);
      assert.equal(citations.rewriteCitations(after), after, `idempotent on ${after}`);
    }
  });
});
