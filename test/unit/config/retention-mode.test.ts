import { ConfigError, loadConfig } from '../../../config';

describe('BEL_RETENTION_MODE', () => {
  const base = { BEL_PROVIDER_TYPES: 'gcp' };

  it('defaults to release-entry and accepts hold-entry', () => {
    expect(loadConfig(base).retentionMode).toBe('release-entry');
    expect(loadConfig({ ...base, BEL_RETENTION_MODE: 'hold-entry' }).retentionMode).toBe('hold-entry');
  });

  it.each(['', 'hold', 'RELEASE-ENTRY', ' hold-entry', 'true'])(
    'refuses %j with a message naming the variable',
    (value) => {
      expect(() => loadConfig({ ...base, BEL_RETENTION_MODE: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...base, BEL_RETENTION_MODE: value })).toThrow(/BEL_RETENTION_MODE/);
    },
  );
});
