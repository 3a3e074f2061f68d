#!/usr/bin/env node
// Runs the TypeScript command line directly (through tsx's loader), so the CLI is the same
// source as the lab and the tests.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('../src/cli/main.ts', import.meta.url);
process.exitCode = await main(process.argv.slice(2));
