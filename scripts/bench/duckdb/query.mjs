// Runs one SQL query in DuckDB and prints its rows as JSON (numbers that
// do not fit a double as strings): the Parquet oracle the Go tests call
// beside arrow-go (capture/sink, TestPacketEncoderDuckDB).
//
//   node query.mjs SQL
import { DuckDBInstance } from "@duckdb/node-api";

if (process.argv.length !== 3) {
  console.error("usage: node query.mjs SQL");
  process.exit(2);
}
const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
const reader = await conn.runAndReadAll(process.argv[2]);
console.log(JSON.stringify(reader.getRowObjectsJson()));
