/**
 * The crash test's child: appends under load until it is killed. It first retries the keys
 * it is given (appends that may or may not have landed before the previous kill), then runs
 * concurrent writers. Over stdout (a pipe: writes are synchronous on Linux) it reports
 * `S <key>` before an append starts and `A <key> <seq>` after it returned.
 */
import { EventLog } from '../../../src/events/log.js';

const [dir, run, writersText, retryText] = process.argv.slice(2);
const say = (line: string) => process.stdout.write(line + '\n');
const request = (key: string) => ({
  namespace: 'default',
  topic: '/containers/create',
  data: { v: 1, id: key, image: 'busybox' },
  cause: { kind: 'api' as const, call: 'crash-test' },
  key,
});

const log = await EventLog.open(dir!);
const retries = retryText ? retryText.split(',') : [];
await Promise.all(
  retries.map(async (key) => {
    const e = await log.append(request(key));
    say(`A ${key} ${e.seq}`);
  }),
);
say('READY');
await Promise.all(
  Array.from({ length: Number(writersText) }, async (_, w) => {
    for (let i = 0; ; i++) {
      const key = `${run}-${w}-${i}`;
      say(`S ${key}`);
      const e = await log.append(request(key));
      say(`A ${key} ${e.seq}`);
    }
  }),
);
