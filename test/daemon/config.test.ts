import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDaemonArgs, type DaemonConfig } from '../../src/daemon/config.js';
import { InvalidArgumentError } from '../../src/common/errors.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
const configDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  dirs.push(dir);
  return dir;
};

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseDaemonArgs(argv, env) as DaemonConfig;

describe('berthd configuration', () => {
  it('uses the documented defaults', () => {
    const c = parse(['--node-id', 'n1']);
    expect(c.root).toBe('/var/lib/berth');
    expect(c.state).toBe('/run/berth');
    expect(c.apiSocket).toBe('/run/berth/berth.sock');
    expect(c.criSocket).toBe('/run/berth/cri.sock');
    expect(c.temporalAddress).toBeUndefined();
    expect(c.natsUrl).toBeUndefined();
    expect(c.natsReplicas).toBe(1);
    expect(c.logLevel).toBe('info');
  });

  it("takes a NATS cluster's servers comma-separated, and the replicas of what berthd creates there", () => {
    const c = parse([
      '--node-id',
      'n1',
      '--nats-url',
      'nats://127.0.0.1:4222,nats://127.0.0.1:4223',
      '--nats-replicas',
      '3',
    ]);
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222,nats://127.0.0.1:4223');
    expect(c.natsReplicas).toBe(3);
  });

  it('reads the log format, the metrics address and the Temporal UI port', () => {
    expect(parseDaemonArgs(['--node-id', 'n1'], {}, true)).toMatchObject({ logFormat: 'pretty' });
    expect(parseDaemonArgs(['--node-id', 'n1'], {}, false)).toMatchObject({ logFormat: 'json' });
    expect(parseDaemonArgs(['--node-id', 'n1'], { BERTH_LOG_FORMAT: 'json' }, true)).toMatchObject({
      logFormat: 'json',
    });
    expect(parse(['--node-id', 'n1', '--log-format', 'pretty']).logFormat).toBe('pretty');
    const off = parse(['--node-id', 'n1']);
    expect(off.metricsAddress).toBeUndefined();
    expect(off.temporalUiPort).toBeUndefined();
    expect(parse(['--metrics-address', '9323']).metricsAddress).toEqual({ host: '127.0.0.1', port: 9323 });
    expect(parse(['--metrics-address', ':9323']).metricsAddress).toEqual({ host: '127.0.0.1', port: 9323 });
    expect(parse(['--metrics-address', '0.0.0.0:9323']).metricsAddress).toEqual({
      host: '0.0.0.0',
      port: 9323,
    });
    expect(parse(['--metrics-address', '[::1]:9323']).metricsAddress).toEqual({ host: '::1', port: 9323 });
    expect(parse(['--temporal-ui-port', '8233']).temporalUiPort).toBe(8233);
  });

  it('derives socket paths from --state', () => {
    const c = parse(['--node-id', 'n1', '--state', '/tmp/s']);
    expect(c.apiSocket).toBe('/tmp/s/berth.sock');
  });

  it('lets flags override env and env override the file', async () => {
    const dir = await configDir();
    const file = join(dir, 'berthd.yaml');
    await writeFile(file, 'root: /from/file\nnodeId: file-node\nlogLevel: debug\nrunc: /opt/runc\n');
    const c = parse(['--config', file, '--root', '/from/flag'], { BERTH_NODE_ID: 'env-node' });
    expect(c.root).toBe('/from/flag');
    expect(c.nodeId).toBe('env-node');
    expect(c.logLevel).toBe('debug');
    expect(c.binaries.runc).toBe('/opt/runc');
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--root', 'relative/dir'], /--root must be an absolute path/],
    [['--node-id', 'Bad_Node'], /--node-id "Bad_Node" is not valid/],
    [['--log-level', 'loud'], /--log-level "loud"/],
    [['--temporal-address', 'no-port'], /not host:port/],
    [['--nats-url', 'http://x:1'], /must use nats:\/\//],
    [['--nats-url', 'nats://a:1,http://b:2'], /--nats-url "http:\/\/b:2" must use nats:\/\//],
    [
      ['--nats-url', 'nats://a:1', '--nats-replicas', '0'],
      /--nats-replicas "0" is not a whole number from 1 to 5/,
    ],
    [['--nats-url', 'nats://a:1', '--nats-replicas', 'three'], /--nats-replicas "three"/],
    [['--nats-replicas', '3'], /--nats-replicas above 1 needs a NATS cluster \(--nats-url\)/],
    [['--config', '/nonexistent/berthd.yaml'], /cannot read config file/],
    [['--log-format', 'xml'], /--log-format "xml" is not one of pretty, json/],
    [['--metrics-address', 'localhost'], /--metrics-address "localhost" is not \[HOST:\]PORT/],
    [['--metrics-address', '127.0.0.1:70000'], /--metrics-address "70000" is not a port/],
    [['--temporal-ui-port', 'x'], /--temporal-ui-port "x" is not a port/],
    [['--api-socket', 'berth.sock'], /--api-socket must be an absolute path, got "berth.sock"/],
    [['--cri-socket', './cri.sock'], /--cri-socket must be an absolute path, got ".\/cri.sock"/],
    [
      ['--temporal-ui-port', '8233', '--temporal-address', 't:7233'],
      /cannot be used with --temporal-address/,
    ],
  ])('rejects %j with an error naming the problem', (argv, message) => {
    expect(() => parse(argv)).toThrow(InvalidArgumentError);
    expect(() => parse(argv)).toThrow(message);
  });

  it('rejects unknown settings in the config file', async () => {
    const dir = await configDir();
    const file = join(dir, 'berthd.yaml');
    await writeFile(file, 'rooot: /x\n');
    expect(() => parse(['--config', file])).toThrow(/unknown setting "rooot"/);
  });

  it.each([
    ['metricsAddress: [9090]\n', /setting "metricsAddress" must be a string, got a list/],
    ['logLevel: 3\n', /setting "logLevel" must be a string, got number 3/],
    ['root: null\n', /setting "root" must be a string, got null/],
    ['runc: {path: /x}\n', /setting "runc" must be a string, got object/],
    ["nodeId: ''\n", /setting "nodeId" is empty/],
    ['allowImageDevices: "yes"\n', /setting "allowImageDevices" must be true or false, got string "yes"/],
  ])('refuses a config file value of the wrong type (%j) instead of defaulting it', async (text, message) => {
    const dir = await configDir();
    const file = join(dir, 'berthd.yaml');
    await writeFile(file, text);
    expect(() => parse(['--config', file])).toThrow(InvalidArgumentError);
    expect(() => parse(['--config', file])).toThrow(message);
  });

  it('takes ports written as numbers and the device switch from the file or a flag', async () => {
    const dir = await configDir();
    const file = join(dir, 'berthd.yaml');
    await writeFile(file, 'metricsAddress: 9323\ntemporalUiPort: 8233\nallowImageDevices: true\n');
    const c = parse(['--config', file]);
    expect(c.metricsAddress).toEqual({ host: '127.0.0.1', port: 9323 });
    expect(c.temporalUiPort).toBe(8233);
    expect(c.allowImageDevices).toBe(true);
    expect(parse([]).allowImageDevices).toBe(false);
    expect(parse(['--allow-image-devices']).allowImageDevices).toBe(true);
  });
});
