import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/common/errors.js';
import {
  familiarReference,
  formatReference,
  manifestSelector,
  parseReference,
} from '../../src/registry/reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('parseReference normalises as docker does', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['team/app', 'docker.io/team/app:latest'],
    ['index.docker.io/team/app:v1', 'docker.io/team/app:v1'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['127.0.0.1:5000/a/b/c:tag_1.0-x', '127.0.0.1:5000/a/b/c:tag_1.0-x'],
    ['quay.io/org/app@' + D, 'quay.io/org/app@' + D],
    ['quay.io/org/app:v2@' + D, 'quay.io/org/app:v2@' + D],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['my-reg.example.com:443/a__b/c--d/e.f', 'my-reg.example.com:443/a__b/c--d/e.f:latest'],
  ])('%s → %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('splits domain, path, tag and digest', () => {
    expect(parseReference('localhost:5000/x:1@' + D)).toEqual({
      domain: 'localhost:5000',
      path: 'x',
      tag: '1',
      digest: D,
    });
  });

  it('asks the registry for the digest when pinned, else the tag', () => {
    expect(manifestSelector(parseReference('a:1@' + D))).toBe(D);
    expect(manifestSelector(parseReference('a:1'))).toBe('1');
  });

  it('gives the familiar short form back', () => {
    expect(familiarReference(parseReference('busybox'))).toBe('busybox:latest');
    expect(familiarReference(parseReference('team/app:v1'))).toBe('team/app:v1');
    expect(familiarReference(parseReference('localhost:5000/x'))).toBe('localhost:5000/x:latest');
  });
});

describe('parseReference refuses bad input with a reason', () => {
  it.each([
    ['UPPER/case', /repository name "UPPER\/case" must be lowercase/],
    ['busybox:', /empty tag/],
    ['busybox@sha256:abc', /64 lowercase hex/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm "md5"/],
    ['busybox@', /empty digest/],
    ['', /empty/],
    [' busybox', /whitespace/],
    ['a'.repeat(64), /image id/],
    ['busybox:-bad', /tag "-bad"/],
    ['busybox:' + 'x'.repeat(129), /tag/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['-a/b', /path component "-a"/],
    ['reg.example.com:/app', /empty port/],
    ['bad_host.com/app', /not a valid registry host/],
    ['localhost:5000/', /path is empty/],
    [':tag', /repository name is empty/],
    ['a/' + 'b'.repeat(260), /longer than 255/],
    ['example.com/Foo', /must be lowercase/],
  ])('%s', (input, why) => {
    expect(() => parseReference(input)).toThrow(InvalidArgumentError);
    expect(() => parseReference(input)).toThrow(why);
  });
});

describe('parseReference properties', () => {
  const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)?$/).filter((c) => c.length <= 20);
  const host = fc.oneof(
    fc.constant(''),
    fc.constantFrom(
      'localhost',
      'localhost:5000',
      '127.0.0.1:5000',
      'reg.example.com',
      'reg.example.com:443',
    ),
  );
  const tag = fc.option(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/), { nil: undefined });
  const digest = fc.option(
    fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`),
    { nil: undefined },
  );

  it('formatting a parsed reference and parsing it again is the identity', () => {
    fc.assert(
      fc.property(
        host,
        fc.array(component, { minLength: 1, maxLength: 3 }),
        tag,
        digest,
        (h, parts, t, d) => {
          const input = `${h ? `${h}/` : ''}${parts.join('/')}${t ? `:${t}` : ''}${d ? `@${d}` : ''}`;
          const once = parseReference(input);
          expect(parseReference(formatReference(once))).toEqual(once);
          if (t) expect(once.tag).toBe(t);
          if (d) expect(once.digest).toBe(d);
          if (!t && !d) expect(once.tag).toBe('latest');
        },
      ),
    );
  });

  it('never accepts upper case in the repository path', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z]{1,5}[A-Z][a-z]{0,5}$/), (name) => {
        expect(() => parseReference(`reg.example.com/${name}`)).toThrow(InvalidArgumentError);
      }),
    );
  });
});
