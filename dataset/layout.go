package dataset

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Tables of a dataset folder, and the folder of run manifests.
const (
	PacketsTable  = "packets"
	SessionsTable = "sessions"
	FlowsTable    = "flows"
	CSVDir        = "csv"
	RunsDir       = "_runs"
)

// PartDir is the hive folder of a table's parts: TABLE/date=DAY/host=HOST.
func PartDir(table, day, host string) string {
	return filepath.Join(table, "date="+day, "host="+host)
}

// PartName is the file name of part seq of a run: part-NNNNN-RUNID.parquet.
func PartName(seq int, runID string) string {
	return fmt.Sprintf("part-%05d-%s.parquet", seq, runID)
}

// ManifestPath is where a run's manifest goes, relative to the dataset.
func ManifestPath(runID string) string { return filepath.Join(RunsDir, runID+".json") }

// CSVName is the prototype's per-flow file name,
// SRCIP-SRCPORT___DSTIP-DSTPORT__TS.csv, with ':' in IPv6 addresses as '_'.
func CSVName(srcIP string, srcPort int32, dstIP string, dstPort int32, firstTsNs int64) string {
	r := strings.NewReplacer(":", "_")
	return r.Replace(srcIP) + "-" + strconv.Itoa(int(srcPort)) + "___" + r.Replace(dstIP) + "-" +
		strconv.Itoa(int(dstPort)) + "__" + strconv.FormatInt(firstTsNs, 10) + ".csv"
}
