export { configSchema, type Config, type ConfigInput } from './schema.ts';
export { loadConfig, ConfigError, type LoadConfigOptions } from './load.ts';
export { maskConfig, maskUrl, MASK } from './mask.ts';
export { ENV_VARS, SECRET_PATHS } from './envVars.ts';
