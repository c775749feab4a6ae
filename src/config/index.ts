// agentgate's configuration: one typed object per role, read once at start from flags,
// AGENTGATE_* environment variables and an optional YAML file, in that order of precedence.

export { loadConfig, type LoadConfigOptions, type LoadConfigResult } from './load.ts';
export { formatConfigErrors, type ConfigError } from './errors.ts';
export { configRoles, configSchemas, type Config, type ConfigFor, type ConfigRole, type LogConfig } from './schema.ts';
export { CONFIG_FILE_ENV, configFields, envAliases, envNameOf, flagNameOf, type FieldInfo } from './fields-table.ts';
export { configFlagOptions, isConfigFlag } from './sources.ts';
export { processInputs } from './process.ts';
export { formatDuration, parseByteSize, parseDuration } from './units.ts';
