#!/usr/bin/env node
// Citations of docs/contract.md in one form: the word `contract` followed by rules and sections, as in
// `contract R7`, `(contract §3, R7, R10)`, `contract R1–R16`, `contract R1/R7`. Sections of other
// documents stay as they are because they are qualified (`PG docs §55.7`, `RFC 5929 §4.1`).
//   node scripts/contract-citations.mjs          lists citations not in that form, or that cite nothing
//   node scripts/contract-citations.mjs --fix    rewrites the mechanical cases (the old `SPEC R7` and a
//                                                bare `(R7)`), then lists what is left for a person
// test/unit/docs/contract.test.ts runs the same checks on every build.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REF = String.raw`(?:R\d+|§\d+)(?![\d.]*\d)`;
const ITEM = `${REF}(?:–${REF})?`;
// Between two items: a comma, a slash, a colon or "and", optionally wrapping onto a comment line.
const SEP = String.raw`\s*(?:,\s*and\b|,|/|:|\band\b)(?:\s|\/\/|\*)*`;
const LIST = `${ITEM}(?:${SEP}${ITEM})*`;
/** A citation in the one form: `contract` and a list of rules and sections. */
const CITATION = new RegExp(String.raw`\bcontract (${LIST})`, 'g');
/** A list of rules and sections, wherever it stands. */
const BARE_LIST = new RegExp(`(?<![\\w§.–/])${LIST}`, 'g');
/** Any single rule or section token. */
const TOKEN = /(?<![\w§.])(R\d+|§\d+(?:\.\d+)*)(?![\w])/g;
/** Qualified sections of other documents: a dotted number, or right after `RFC <n>`. */
const EXTERNAL_SECTION = /^§\d+\.\d/;
const AFTER_RFC = /RFC \d+ $/;

/** Rules (`R1` ...) and sections (`§1` ...) that docs/contract.md defines, as a Set of tokens. */
export function contractTargets(contractText) {
  const targets = new Set();
  for (const match of contractText.matchAll(/^- \*\*(R\d+)\*\*/gm)) targets.add(match[1]);
  for (const match of contractText.matchAll(/^## (§\d+) /gm)) targets.add(match[1]);
  return targets;
}

function number(token) {
  return Number(token.slice(1));
}

/**
 * What is wrong with the citations in `text`, one line each (`line N: ...`): the retired word SPEC, a
 * rule or section outside the `contract ...` form, a target the contract does not define, a backwards
 * range. `ownForm` false skips the form check (the contract itself cites its rules bare).
 */
export function citationProblems(text, targets, { ownForm = true } = {}) {
  const problems = [];
  const lineOf = (index) => text.slice(0, index).split('\n').length;
  for (const match of text.matchAll(/\bSPEC\b/g)) {
    problems.push(
      `line ${lineOf(match.index)}: "SPEC" names a file the repository does not have: cite docs/contract.md as "contract R7"`,
    );
  }
  const covered = [];
  for (const match of text.matchAll(CITATION)) {
    const start = match.index + match[0].length - match[1].length;
    covered.push([start, start + match[1].length]);
  }
  for (const match of text.matchAll(TOKEN)) {
    const token = match[1];
    if (token.startsWith('§')) {
      if (EXTERNAL_SECTION.test(token)) continue;
      if (AFTER_RFC.test(text.slice(Math.max(0, match.index - 16), match.index))) continue;
    }
    const line = lineOf(match.index);
    if (!targets.has(token)) {
      problems.push(`line ${line}: ${token} is not a rule or section of docs/contract.md`);
      continue;
    }
    if (ownForm && !covered.some(([from, to]) => match.index >= from && match.index < to)) {
      problems.push(
        `line ${line}: ${token} is cited without "contract" before it (write "contract ${token}")`,
      );
    }
  }
  for (const match of text.matchAll(new RegExp(`(${REF})–(${REF})`, 'g'))) {
    const [from, to] = [match[1], match[2]];
    if (from[0] !== to[0] || number(from) >= number(to)) {
      problems.push(
        `line ${lineOf(match.index)}: the range ${match[0]} must run upwards between rules or between sections`,
      );
    }
  }
  return problems;
}

/** `text` with the mechanical rewrites: `SPEC R7` → `contract R7`, a bare `R7` → `contract R7`. */
export function rewriteCitations(text) {
  const respec = text.replace(new RegExp(String.raw`\bSPEC\s+(?=${REF})`, 'g'), 'contract ');
  return respec.replace(BARE_LIST, (list, offset, whole) => {
    if (whole.slice(Math.max(0, offset - 9), offset) === 'contract ') return list;
    const first = /^(R\d+|§\d+)/.exec(list)?.[1] ?? '';
    if (first.startsWith('§') && AFTER_RFC.test(whole.slice(Math.max(0, offset - 16), offset))) return list;
    return `contract ${list}`;
  });
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** This script and its test, which write the old and wrong forms on purpose, as examples. */
const SHOWS_THE_FORMS = ['scripts/contract-citations.mjs', 'test/unit/docs/contract.test.ts'];
const SOURCE_ENDINGS = ['.ts', '.mjs', '.js'];

/**
 * Files whose citations must resolve (paths relative to the repository): the sources, tests, benches
 * and scripts, the fuzz fixtures' descriptions, and the Markdown pages. The contract itself comes last.
 */
export function citationFiles(base = root) {
  const found = [];
  const walk = (dir, keep) => {
    for (const entry of readdirSync(join(base, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, keep);
      else if (keep(entry.name)) found.push(path);
    }
  };
  for (const dir of ['src', 'test', 'bench', 'scripts']) {
    walk(dir, (name) => SOURCE_ENDINGS.some((ending) => name.endsWith(ending)) || name.endsWith('.md'));
  }
  walk('test/fixtures', (name) => name.endsWith('.json'));
  walk('docs', (name) => name.endsWith('.md') && name !== 'contract.md');
  for (const entry of readdirSync(base)) if (entry.endsWith('.md')) found.push(entry);
  return [...new Set(found)].filter((path) => !SHOWS_THE_FORMS.includes(path)).sort();
}

/** The Markdown page that defines the rules. */
export const CONTRACT_PATH = 'docs/contract.md';

function main() {
  const fix = process.argv.includes('--fix');
  const targets = contractTargets(readFileSync(join(root, CONTRACT_PATH), 'utf8'));
  let rewritten = 0;
  const problems = [];
  for (const path of citationFiles()) {
    const full = join(root, path);
    const text = readFileSync(full, 'utf8');
    const next = fix ? rewriteCitations(text) : text;
    if (next !== text) {
      writeFileSync(full, next);
      rewritten += 1;
    }
    for (const problem of citationProblems(next, targets)) problems.push(`${path} ${problem}`);
  }
  const contract = readFileSync(join(root, CONTRACT_PATH), 'utf8');
  for (const problem of citationProblems(contract, targets, { ownForm: false })) {
    problems.push(`${CONTRACT_PATH} ${problem}`);
  }
  if (fix)
    console.log(
      `rewrote citations in ${rewritten} file(s)${rewritten ? ' (run npm run docs:api if src/ changed)' : ''}`,
    );
  for (const problem of problems) console.log(problem);
  if (problems.length > 0) {
    console.log(
      `${problems.length} citation problem(s)${fix ? ' left for a person' : '; --fix rewrites the mechanical ones'}`,
    );
    process.exit(1);
  }
  console.log(`every citation of ${relative(root, join(root, CONTRACT_PATH))} resolves`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
