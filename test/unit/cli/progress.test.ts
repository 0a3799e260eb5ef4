// The status line of `watch -v` (src/cli/progress.ts): one line per 2 s tick while changes arrive and no
// item was printed, none while idle or while items are printed; its wording; and the timer that drives it
// (node:test's mock timers), stopped with the watch.
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import {
  DrainProgress,
  PROGRESS_INTERVAL_MS,
  PROGRESS_WAL_BYTES,
  startProgress,
} from '../../../src/cli/progress.js';
import { bindLogger } from '../../../src/logger.js';
import { sampleStats } from '../../support/scripted-feed.js';

const at = (changes: number, bytesReceived = 0, walEnd: string | null = null) => ({
  changes,
  bytesReceived,
  walEnd,
});

describe('watch -v status', () => {
  test('a line per tick while changes arrive with nothing printed; none when idle or after an item', () => {
    const progress = new DrainProgress(at(10), 0);
    assert.equal(progress.tick(at(10), 2000), null, 'idle: nothing');
    assert.equal(
      progress.tick(at(400_010, 12_345_678), 4000),
      'receiving: 400,000 changes since the last item printed, 100,000 per second; 12.3 MB received in all',
    );
    assert.equal(
      progress.tick(at(1_000_010, 50_000_000), 6000),
      'receiving: 1,000,000 changes since the last item printed, 300,000 per second; 50.0 MB received in all',
    );
    progress.printed(at(1_000_110), 7000);
    assert.equal(progress.tick(at(1_100_010), 8000), null, 'an item was printed in this tick');
    assert.equal(
      progress.tick(at(1_100_110), 10_000),
      'receiving: 100,000 changes since the last item printed, 33,333 per second; 0.0 MB received in all',
      'counted from the item printed',
    );
    assert.equal(progress.tick(at(1_100_110), 12_000), null, 'idle again');
  });

  test('changes that arrived in the tick of an item are reported at the next tick, even if none follow', () => {
    const progress = new DrainProgress(at(0), 0);
    progress.printed(at(0), 500);
    assert.equal(progress.tick(at(3), 2000), null);
    assert.equal(
      progress.tick(at(3), 4000),
      'receiving: 3 changes since the last item printed, 1 per second; 0.0 MB received in all',
    );
    assert.equal(progress.tick(at(3), 6000), null, 'said once');
  });

  test('with no change, a line once the server’s WAL end moved 16 MiB past the last item or line', () => {
    const progress = new DrainProgress(at(0), 0);
    progress.printed(at(0, 0, '1/0'), 0);
    assert.equal(progress.tick(at(0, 0, '1/800000'), 2000), null, 'an item was printed in this tick');
    assert.equal(progress.tick(at(0, 0, '1/FFFFFF'), 4000), null, 'not 16 MiB yet');
    assert.equal(
      progress.tick(at(0, 0, '1/1000000'), 8000),
      "waiting: the server's stream is at WAL 1/1000000, 16.8 MB further (2.1 MB per second), no change since the last item printed",
    );
    assert.equal(PROGRESS_WAL_BYTES, 0x1000000);
    assert.equal(progress.tick(at(0, 0, '1/1800000'), 10_000), null, 'counted from the last line');
    assert.equal(
      progress.tick(at(5, 0, '1/1800000'), 12_000),
      'receiving: 5 changes since the last item printed, 1 per second; 0.0 MB received in all',
      'changes say more than the WAL end',
    );
  });

  test('WAL lines count from the first report; a feed without WAL positions (NotifyFeed) has none', () => {
    const progress = new DrainProgress(at(0), 0);
    for (let ms = 2000; ms <= 20_000; ms += 2000) assert.equal(progress.tick(at(0), ms), null);
    assert.equal(progress.tick(at(0, 0, '5/0'), 22_000), null, 'the first report is where counting starts');
    assert.match(progress.tick(at(0, 0, '5/1000000'), 24_000) ?? '', /^waiting: .*\(8\.4 MB per second\)/);
  });

  test('the timer ticks every 2 s on the feed’s stats and stops with the watch', (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    let now = 0;
    let stats = sampleStats({ changes: 0, bytesReceived: 0 });
    const lines: string[] = [];
    const progress = startProgress(
      { stats: () => stats },
      bindLogger({ info: (line) => lines.push(line) }),
      () => now,
    );
    stats = sampleStats({ changes: 5000, bytesReceived: 2_000_000 });
    now = PROGRESS_INTERVAL_MS;
    mock.timers.tick(PROGRESS_INTERVAL_MS);
    assert.deepEqual(lines, [
      'pgnudge: receiving: 5,000 changes since the last item printed, 2,500 per second; 2.0 MB received in all',
    ]);
    progress.printed();
    stats = sampleStats({ changes: 6000, bytesReceived: 2_000_000 });
    now += PROGRESS_INTERVAL_MS;
    mock.timers.tick(PROGRESS_INTERVAL_MS);
    assert.equal(lines.length, 1, 'an item was printed');
    progress.stop();
    stats = sampleStats({ changes: 9000, bytesReceived: 2_000_000 });
    now += PROGRESS_INTERVAL_MS;
    mock.timers.tick(PROGRESS_INTERVAL_MS * 3);
    assert.equal(lines.length, 1, 'no line after stop()');
  });
});
