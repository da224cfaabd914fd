import { describe, expect, it } from 'vitest';
import { maskUrl, maskUrlsIn } from '../../src/db/mask-url.js';

describe('database URLs in messages', () => {
  it('masks the password wherever a URL can carry one', () => {
    expect(maskUrl('postgres://app:hunter2@db.example.com:5432/marketer')).toBe('postgres://app:***@db.example.com:5432/marketer');
    expect(maskUrl('postgres://db.example.com/marketer?user=app&password=hunter2&sslmode=require')).toBe('postgres://db.example.com/marketer?user=app&password=***&sslmode=require');
    expect(maskUrl('postgresql://app@db/m?sslmode=verify-full&sslpassword=k3y-pass&sslkey=/k.pem')).toBe('postgresql://app@db/m?sslmode=verify-full&sslpassword=***&sslkey=***');
    expect(maskUrl('postgres://app:p%40ss@db/m?PASSWORD=x')).not.toMatch(/p%40ss|=x/);
    expect(maskUrl('not a url hunter2')).toBe('<unparseable database URL>');
  });

  it('masks every URL inside a message and leaves the rest alone', () => {
    const text = 'Cannot use postgres://a:s3cret@h/d (and postgresql://h/d?password=s3cret): refused';
    expect(maskUrlsIn(text)).toBe('Cannot use postgres://a:***@h/d (and postgresql://h/d?password=***): refused');
  });
});
