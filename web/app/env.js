// urql's ES module reads process.env.NODE_ENV, as bundlers replace it; without a bundler the browser needs
// this one global (production: no development warnings).
globalThis.process ??= { env: { NODE_ENV: 'production' } };
