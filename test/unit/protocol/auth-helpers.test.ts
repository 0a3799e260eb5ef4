import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { md5PasswordMessage } from '../../../src/protocol/md5.js';
import { saslprep } from '../../../src/protocol/saslprep.js';
import { hex } from '../../support/bytes.js';

describe('md5PasswordMessage', () => {
  it('is md5 + md5hex(md5hex(password + user) + salt) (computed with Python hashlib)', () => {
    assert.equal(
      md5PasswordMessage('postgres', 'secret', hex('01020304')),
      'md5bb41a296aab6baccb36ff243a562abff',
    );
  });
});

describe('saslprep', () => {
  it('passes ASCII through untouched, even control characters (like pg_saslprep)', () => {
    assert.equal(saslprep('pencil'), 'pencil');
    assert.equal(saslprep('a\tb'), 'a\tb');
    assert.equal(saslprep(''), '');
  });
  it('maps non-ASCII spaces to U+0020', () => {
    assert.equal(saslprep('a\u00a0b\u3000c\u2002d'), 'a b c d');
  });
  it('removes characters mapped to nothing (soft hyphen, ZWJ, variation selectors)', () => {
    assert.equal(saslprep('I\u00adX'), 'IX');
    assert.equal(saslprep('a\u200db\ufe0fc'), 'abc');
  });
  it('applies NFKC', () => {
    assert.equal(saslprep('\u00aa'), 'a');
    assert.equal(saslprep('\u2168'), 'IX');
    assert.equal(saslprep('e\u0301'), '\u00e9');
    assert.equal(saslprep('\ufb01'), 'fi');
  });
  it('keeps the password unchanged when a prohibited character remains', () => {
    assert.equal(saslprep('a\u0007\u00e9'), 'a\u0007\u00e9');
    assert.equal(saslprep('\u00e9\ue000'), '\u00e9\ue000');
    assert.equal(saslprep('\u00e9\u{e0001}'), '\u00e9\u{e0001}');
    assert.equal(saslprep('e\u0301\u200e'), 'e\u0301\u200e');
  });
  it('keeps the password unchanged when it maps to nothing', () => {
    assert.equal(saslprep('\u00ad'), '\u00ad');
  });
  it('keeps the password unchanged for an unassigned code point', () => {
    assert.equal(saslprep('\u00e9\u0378'), '\u00e9\u0378');
  });
  it('applies the bidi rule', () => {
    assert.equal(saslprep('\u05d0\u05d1'), '\u05d0\u05d1');
    assert.equal(saslprep('\u0627 1 \u0628'), '\u0627 1 \u0628');
    assert.equal(saslprep('\u05d0a\u05d1'), '\u05d0a\u05d1', 'RandALCat mixed with LCat: unchanged');
    assert.equal(saslprep('\u05d01'), '\u05d01', 'RandALCat not last: unchanged');
    assert.equal(
      saslprep('\ufb2a'),
      '\ufb2a',
      'U+FB2A is RandALCat; NFKC yields U+05E9 U+05C1, whose last is not',
    );
  });
});
