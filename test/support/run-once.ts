// Live files whose subject does not depend on the PostgreSQL major (brokers, the pooler) run in one suite
// per test run, not once per major: the newest selected major that is installed.
import { type ClusterInfo, selectedMajors, serverInstall } from './cluster.js';

/** A skip reason unless this suite is the one that runs major-independent tests; undefined to run. */
export function runsInAnotherSuite(info: ClusterInfo): string | undefined {
  // An external server is the run's only suite.
  if (info.external) return undefined;
  const newest = Math.max(...selectedMajors().filter((major) => serverInstall(major) !== null));
  return info.major === newest ? undefined : `runs once per test run, in the PostgreSQL ${newest} suite`;
}
