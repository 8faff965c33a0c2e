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
