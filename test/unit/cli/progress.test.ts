// The status line of `watch -v` (src/cli/progress.ts): one line per 2 s tick while changes arrive and no
// item was printed, none while idle or while items are printed; its wording; and the timer that drives it
// (node:test's mock timers), stopped with the watch.
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { DrainProgress, PROGRESS_INTERVAL_MS, startProgress } from '../../../src/cli/progress.js';
import { bindLogger } from '../../../src/logger.js';
import { sampleStats } from '../../support/scripted-feed.js';

const at = (changes: number, bytesReceived = 0) => ({ changes, bytesReceived });

describe('watch -v status', () => {
  test('a line per tick while changes grow with nothing printed; none when idle or after an item', () => {
    const progress = new DrainProgress(at(10), 0);
    assert.equal(progress.tick(at(10), 2000), null, 'idle: nothing');
    assert.equal(
      progress.tick(at(400_010, 12_345_678), 4000),
      'receiving: 400,000 changes since the last item printed, 200,000 per second; 12.3 MB received in all',
    );
    assert.equal(
      progress.tick(at(1_000_010, 50_000_000), 6000),
      'receiving: 1,000,000 changes since the last item printed, 300,000 per second; 50.0 MB received in all',
    );
    progress.printed(at(1_000_110));
    assert.equal(progress.tick(at(1_100_010), 8000), null, 'an item was printed in this tick');
    assert.equal(
      progress.tick(at(1_100_110), 10_000),
      'receiving: 100,000 changes since the last item printed, 50 per second; 0.0 MB received in all',
      'counted from the item printed',
    );
    assert.equal(progress.tick(at(1_100_110), 12_000), null, 'idle again');
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
