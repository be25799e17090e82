/** Real-server tests start real `bao` processes: they get generous timeouts, and the
 *  summary line of .ci/run is computed from the JSON results jest writes. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", {}] },
  testTimeout: 30000,
  globalSetup: "<rootDir>/test/global-setup.ts",
};
