// The DuckDB side of scripts/bench/report.sh: runs the reference workload
// shared/bench/report-duckdb.sql on a tacap dataset and prints its one
// result row as JSON, so that every aggregate is computed, materialised and
// converted (nothing can be skipped).
//
//   node report.mjs [--brief] DATASET [SQLFILE]
//
// SQLFILE defaults to $TACAP_SHARED/bench/report-duckdb.sql, else to
// ../shared/bench/report-duckdb.sql beside the repository. --brief shortens
// every list in the printed row to its first 3 entries plus a count.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";

const args = process.argv.slice(2);
const brief = args[0] === "--brief";
if (brief) args.shift();
if (args.length < 1 || args.length > 2) {
  console.error("usage: node report.mjs [--brief] DATASET [SQLFILE]");
  process.exit(2);
}
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const shared = process.env.TACAP_SHARED || join(repo, "../shared");
const sqlFile = args[1] ?? join(shared, "bench/report-duckdb.sql");
// The folder goes into SQL string literals: double any single quote.
const dataset = resolve(args[0]).replaceAll("'", "''");
const sql = readFileSync(sqlFile, "utf8").replaceAll("DATASET", dataset);

const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
const rows = (await conn.runAndReadAll(sql)).getRowObjectsJson();
if (rows.length !== 1) {
  console.error(`expected one result row, got ${rows.length}`);
  process.exit(1);
}
const row = brief
  ? Object.fromEntries(
      Object.entries(rows[0]).map(([k, v]) => [
        k,
        Array.isArray(v) ? { n: v.length, first: v.slice(0, 3) } : v,
      ]),
    )
  : rows[0];
console.log(JSON.stringify(row));
conn.closeSync();
instance.closeSync();
