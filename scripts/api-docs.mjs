#!/usr/bin/env node
// Renders docs/api.md from the TSDoc of every export of src/index.ts, using the TypeScript compiler.
//   node scripts/api-docs.mjs          rewrite docs/api.md
//   node scripts/api-docs.mjs --check  fail when docs/api.md is stale or an export lacks TSDoc (CI)
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const entry = join(root, 'src/index.ts');
const program = ts.createProgram([entry], {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  strict: true,
  types: ['node'],
  typeRoots: [join(root, 'node_modules/@types')],
});
const checker = program.getTypeChecker();
const source = program.getSourceFile(entry);
const moduleSymbol = checker.getSymbolAtLocation(source);
const undocumented = [];

function docOf(symbol) {
  const text = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
  const tags = symbol
    .getJsDocTags(checker)
    .filter((tag) => tag.name !== 'internal')
    .map((tag) => `*@${tag.name}* ${ts.displayPartsToString(tag.text ?? [])}`.trim());
  return [text, ...tags].filter(Boolean).join('\n\n');
}

function isPublicMember(declaration) {
  const flags = ts.getCombinedModifierFlags(declaration);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return false;
  const name = declaration.name;
  return !(name && ts.isPrivateIdentifier(name));
}

/** The declaration's own text without its doc comment or body, as a signature. */
function signatureText(declaration) {
  const file = declaration.getSourceFile();
  let text = declaration.getText(file);
  if (
    ts.isFunctionDeclaration(declaration) ||
    ts.isMethodDeclaration(declaration) ||
    ts.isConstructorDeclaration(declaration) ||
    ts.isGetAccessorDeclaration(declaration)
  ) {
    const body = declaration.body;
    if (body) text = text.slice(0, body.getStart(file) - declaration.getStart(file)).trimEnd();
  }
  if (ts.isClassDeclaration(declaration)) {
    const brace = text.indexOf('{');
    text = text.slice(0, brace).trimEnd();
  }
  return text.replace(/^export\s+/, '').replace(/\s+/g, ' ');
}

function kindOf(declaration) {
  if (ts.isClassDeclaration(declaration)) return 'class';
  if (ts.isInterfaceDeclaration(declaration)) return 'interface';
  if (ts.isTypeAliasDeclaration(declaration)) return 'type';
  if (ts.isFunctionDeclaration(declaration)) return 'function';
  if (ts.isVariableDeclaration(declaration)) return 'const';
  return 'export';
}

const sections = [];
const exports = checker.getExportsOfModule(moduleSymbol).sort((a, b) => a.name.localeCompare(b.name));
const exportedNames = new Set(exports.map((exported) => exported.name));
for (const exported of exports) {
  const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  const declaration = symbol.declarations?.[0];
  if (!declaration) continue;
  const kind = kindOf(declaration);
  const doc = docOf(symbol);
  if (!doc) undocumented.push(exported.name);
  const lines = [
    `## ${exported.name}`,
    '',
    `\`${kind}\` · \`${declaration.getSourceFile().fileName.slice(root.length + 1)}\``,
    '',
  ];
  if (kind === 'type' || kind === 'function' || kind === 'const') {
    lines.push(
      '```ts',
      signatureText(
        declaration.kind === ts.SyntaxKind.VariableDeclaration ? declaration.parent.parent : declaration,
      ),
      '```',
      '',
    );
  }
  if (doc) lines.push(doc, '');
  if (kind === 'class' || kind === 'interface') {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const members = [];
    if (kind === 'class') {
      for (const ctor of symbol.members?.get('__constructor')?.declarations ?? []) {
        if (isPublicMember(ctor))
          members.push({
            name: 'constructor',
            text: signatureText(ctor),
            doc: docOf(symbol.members.get('__constructor')),
          });
      }
    }
    for (const member of checker.getPropertiesOfType(type)) {
      const memberDeclaration = member.declarations?.[0];
      if (!memberDeclaration || !isPublicMember(memberDeclaration)) continue;
      const owner = memberDeclaration.parent;
      // Inherited members are documented on the class that declares them, when that class is exported;
      // a private base's members (Feed's close(), closed, ...) are listed on each public subclass.
      if (kind === 'class' && owner !== declaration) {
        const ours = owner.getSourceFile().fileName.startsWith(join(root, 'src'));
        if (!ours || exportedNames.has(owner.name?.text)) continue;
      }
      const memberDoc = docOf(member);
      // A well-known symbol's internal name (`__@asyncDispose@57`) numbers it by the checker's order, which
      // any unrelated change shifts: print it as written.
      const name = member.name.replace(/^__@(\w+)@\d+$/, '[Symbol.$1]');
      if (!memberDoc && kind === 'class') undocumented.push(`${exported.name}.${name}`);
      members.push({ name, text: signatureText(memberDeclaration), doc: memberDoc });
    }
    if (members.length > 0) {
      lines.push('| member | signature | description |', '| --- | --- | --- |');
      for (const member of members) {
        const cell = (s) => s.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
        lines.push(`| \`${member.name}\` | \`${cell(member.text)}\` | ${cell(member.doc)} |`);
      }
      lines.push('');
    }
  }
  sections.push(lines.join('\n'));
}

const output = `# API reference

Generated from the TSDoc in \`src/\` by \`npm run docs:api\`; CI fails when this page is stale. Every export
of \`pgnudge\` is listed here, alphabetically. Error codes are explained in [errors.md](errors.md).

${sections.join('\n')}`;

const target = join(root, 'docs/api.md');
if (undocumented.length > 0) {
  console.error(`exports without TSDoc: ${undocumented.join(', ')}`);
  if (check) process.exit(1);
}
if (check) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== output) {
    console.error('docs/api.md is stale: run `npm run docs:api` and commit the result');
    process.exit(1);
  }
  console.log(`docs/api.md is up to date (${exports.length} exports)`);
} else {
  writeFileSync(target, output);
  console.log(`wrote docs/api.md (${exports.length} exports)`);
}
