// For live files whose subject does not depend on the PostgreSQL major (HTTP, the browser): run them on
// one major only, the newest selected and installed, to spare the machine three identical runs.
import { type ClusterInfo, selectedMajors, serverInstall } from './cluster.js';

/** A skip reason unless `info` is the one major to run on (an external server always runs). */
export function onlyOneMajor(info: ClusterInfo, subject: string): string | undefined {
  if (info.external) return undefined;
  const majors = selectedMajors().filter((major) => serverInstall(major) !== null);
  const chosen = majors[majors.length - 1];
  return info.major === chosen
    ? undefined
    : `${subject} does not depend on the major; it runs on PostgreSQL ${chosen}`;
}
