package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"

	"github.com/tacap/tacap/dataset"

	"github.com/parquet-go/parquet-go"
)

// The report reads Parquet column chunks page by page into flat typed
// slices (parquet-go's Page.Data), never row by row into structs: that is
// what makes a 10 M-row report take about a second. Strings (addresses,
// direction, labels) become dense integer IDs shared by every file of the
// report, so aggregation indexes slices instead of hashing strings.
//
// Columns added to the contract after datasets were written (the label
// columns) are optional: a file without them is read, and its batches say
// the column is absent.

type colKind int

const (
	kInt32 colKind = iota
	kInt64
	kString
	kBool
	// kNullInt64 is a nullable INT64: nulls are read as nullInt64.
	kNullInt64
)

// nullInt64 stands for a null of a kNullInt64 column (the counts it holds
// are never negative).
const nullInt64 = -1

// parquetKind is the physical type the contract gives columns of kind k.
func (k colKind) parquetKind() parquet.Kind {
	switch k {
	case kInt32:
		return parquet.Int32
	case kInt64, kNullInt64:
		return parquet.Int64
	case kString:
		return parquet.ByteArray
	}
	return parquet.Boolean
}

type colSpec struct {
	name string
	kind colKind
}

// addedColumns are the columns the contract gained after datasets were
// written without them: a file may lack them (batch.absent says so).
var addedColumns = map[string]bool{"label": true, "attack": true, "label_rule": true, "label_packets": true}

func (c colSpec) optional() bool { return addedColumns[c.name] }

// packetCols are the packets/ columns the report needs (a subset: the rest
// are never read from disk).
var packetCols = []colSpec{
	{"ts_ns", kInt64}, {"direction", kString}, {"ip_version", kInt32}, {"src_ip", kString},
	{"dst_ip", kString}, {"protocol", kInt32}, {"src_port", kInt32}, {"dst_port", kInt32},
	{"ip_len", kInt32}, {"gso_segs", kInt32}, {"tcp_payload_len", kInt32}, {"tcp_flags", kInt32},
	{"udp_payload_len", kInt32}, {"icmp_type", kInt32},
	{"label", kString}, {"attack", kString}, {"label_rule", kString},
}

// Indexes into packetCols.
const (
	pTsNs = iota
	pDirection
	pIPVersion
	pSrcIP
	pDstIP
	pProtocol
	pSrcPort
	pDstPort
	pIPLen
	pGSOSegs
	pTCPLen
	pTCPFlags
	pUDPLen
	pICMPType
	pLabel
	pAttack
	pLabelRule
)

// sessionCols are the sessions/ columns the report needs.
var sessionCols = []colSpec{
	{"src_ip", kString}, {"dst_ip", kString}, {"src_port", kInt32}, {"dst_port", kInt32},
	{"protocol", kInt32}, {"first_ts", kInt64}, {"last_ts", kInt64}, {"packets_recorded", kInt64},
	{"bytes_recorded", kInt64}, {"packets_seen", kInt64}, {"bytes_seen", kInt64}, {"quota_limited", kBool},
	{"label", kString}, {"attack", kString}, {"label_rule", kString},
}

const (
	fSrcIP = iota
	fDstIP
	fSrcPort
	fDstPort
	fProtocol
	fFirstTs
	fLastTs
	fPacketsRecorded
	fBytesRecorded
	fPacketsSeen
	fBytesSeen
	fQuotaLimited
	fLabel
	fAttack
	fLabelRule
)

// flowCols are the flows/ columns the report needs.
var flowCols = []colSpec{
	{"flow_id", kInt64}, {"src_ip", kString}, {"dst_ip", kString}, {"src_port", kInt32}, {"dst_port", kInt32},
	{"protocol", kInt32}, {"first_ts_ns", kInt64}, {"last_ts_ns", kInt64}, {"end_reason", kString},
	{"fwd_packets", kInt64}, {"bwd_packets", kInt64}, {"fwd_bytes", kInt64}, {"bwd_bytes", kInt64},
	{"packets_recorded", kInt64},
	{"label", kString}, {"attack", kString}, {"label_rule", kString}, {"label_packets", kNullInt64},
}

// Indexes into flowCols.
const (
	flFlowID = iota
	flSrcIP
	flDstIP
	flSrcPort
	flDstPort
	flProtocol
	flFirstTsNs
	flLastTsNs
	flEndReason
	flFwdPackets
	flBwdPackets
	flFwdBytes
	flBwdBytes
	flPacketsRecorded
	flLabel
	flAttack
	flLabelRule
	flLabelPackets
)

// batch holds one row group's columns, decoded.
type batch struct {
	rows int
	i32  [][]int32  // by column index; nil for other kinds
	i64  [][]int64  //
	str  [][]uint32 // interned string IDs
	bool [][]bool
	// absent marks the optional columns the file lacks (their slices are
	// empty).
	absent []bool
}

func newBatch(cols []colSpec) *batch {
	n := len(cols)
	return &batch{i32: make([][]int32, n), i64: make([][]int64, n), str: make([][]uint32, n), bool: make([][]bool, n),
		absent: make([]bool, n)}
}

// interner maps strings to dense IDs. It is shared by the decoding
// goroutines; each takes the lock once per page.
type interner struct {
	mu    sync.Mutex
	ids   map[string]uint32
	names []string
}

func newInterner() *interner { return &interner{ids: map[string]uint32{}} }

// idLocked returns b's ID; the caller holds mu.
func (in *interner) idLocked(b []byte) uint32 {
	if id, ok := in.ids[string(b)]; ok { // no allocation for the lookup
		return id
	}
	s := string(b)
	id := uint32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

// id returns s's ID, taking the lock.
func (in *interner) id(s string) uint32 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.idLocked([]byte(s))
}

func (in *interner) len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.names)
}

// parquetFile is an open Parquet file whose schema was checked.
type parquetFile struct {
	f     *os.File
	pf    *parquet.File
	index []int // column chunk index of each wanted column
}

func (p *parquetFile) Close() error { return p.f.Close() }

// openParquet opens path and checks it has every wanted column, required
// (kNullInt64: optional or required), with the contract's physical type.
// An optional column it lacks gets the index -1.
func openParquet(path string, cols []colSpec, table string) (pf *parquetFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet file (%v)", r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.New(errText(err) + permissionHint(err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, errors.New(errText(err))
	}
	file, err := parquet.OpenFile(f, st.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(1<<20))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("not a readable Parquet file: %v", err)
	}
	p := &parquetFile{f: f, pf: file, index: make([]int, len(cols))}
	for i, c := range cols {
		leaf, ok := file.Schema().Lookup(c.name)
		if !ok && c.optional() {
			p.index[i] = -1
			continue
		}
		if !ok {
			f.Close()
			if _, sessions := file.Schema().Lookup("packets_seen"); sessions && table == dataset.FlowsTable {
				// Before sessions/ existed, the session table was flows/.
				return nil, errors.New("not a tacap flows file: it holds session rows (in a dataset written before sessions/ existed, " +
					"flows/ is the session table; see docs/dataset.md, \"sessions/\")")
			}
			return nil, fmt.Errorf("not a tacap %s file: no column %s", table, c.name)
		}
		want, maxDef, wantText := c.kind.parquetKind(), 0, "required"
		if c.kind == kNullInt64 {
			maxDef, wantText = 1, "optional"
		}
		if got := leaf.Node.Type().Kind(); got != want || leaf.MaxDefinitionLevel > maxDef || leaf.MaxRepetitionLevel != 0 {
			f.Close()
			nullable := ""
			if leaf.MaxDefinitionLevel+leaf.MaxRepetitionLevel > 0 {
				nullable = "optional/repeated "
			}
			return nil, fmt.Errorf("not a tacap %s file: column %s is %s%s, want %s %s", table, c.name, nullable, got, wantText, want)
		}
		p.index[i] = leaf.ColumnIndex
	}
	for g, rg := range file.Metadata().RowGroups {
		for i, c := range cols {
			if idx := p.index[i]; idx >= 0 && idx < len(rg.Columns) {
				if err := checkPages(f, st.Size(), &rg.Columns[idx].MetaData); err != nil {
					f.Close()
					return nil, fmt.Errorf("corrupt Parquet file: column %s of row group %d: %v", c.name, g, err)
				}
			}
		}
	}
	return p, nil
}

// readColumn decodes wanted column i of row group g into b (reusing its
// slice). Strings are interned in in. Safe to call for different columns
// of one row group at once.
func (p *parquetFile) readColumn(g int, cols []colSpec, i int, b *batch, in *interner) (err error) {
	c := cols[i]
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt Parquet data in column %s of row group %d (%v)", c.name, g, r)
		}
	}()
	b.absent[i] = p.index[i] < 0
	if b.absent[i] {
		b.i32[i], b.i64[i], b.str[i], b.bool[i] = b.i32[i][:0], b.i64[i][:0], b.str[i][:0], b.bool[i][:0]
		return nil
	}
	rg := p.pf.RowGroups()[g]
	if err := readChunk(rg.ColumnChunks()[p.index[i]], c, i, int(rg.NumRows()), b, in); err != nil {
		return fmt.Errorf("column %s of row group %d: %w", c.name, g, err)
	}
	var n int
	switch c.kind {
	case kInt32:
		n = len(b.i32[i])
	case kInt64, kNullInt64:
		n = len(b.i64[i])
	case kString:
		n = len(b.str[i])
	case kBool:
		n = len(b.bool[i])
	}
	if want := int(rg.NumRows()); n != want {
		return fmt.Errorf("column %s of row group %d has %d values for %d rows", c.name, g, n, want)
	}
	return nil
}

func readChunk(cc parquet.ColumnChunk, c colSpec, i, rows int, b *batch, in *interner) error {
	pages := cc.Pages()
	defer pages.Close()
	// Room for the whole chunk at once (a row group is at most a few
	// million rows): no regrowing while pages are appended.
	rows = min(max(rows, 0), 1<<24)
	switch c.kind {
	case kInt32:
		b.i32[i] = slices.Grow(b.i32[i][:0], rows)
	case kInt64, kNullInt64:
		b.i64[i] = slices.Grow(b.i64[i][:0], rows)
	case kString:
		b.str[i] = slices.Grow(b.str[i][:0], rows)
	case kBool:
		b.bool[i] = slices.Grow(b.bool[i][:0], rows)
	}
	var dictIDs []uint32 // the chunk's dictionary, interned (one dictionary per chunk)
	for {
		page, err := pages.ReadPage()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if c.kind != kNullInt64 && page.NumNulls() > 0 {
			parquet.Release(page)
			return errors.New("has null values")
		}
		values := page.Data()
		data := &values
		dict := page.Dictionary()
		switch c.kind {
		case kInt32:
			if dict != nil {
				dv := dict.Page().Data()
				b.i32[i], err = appendLookup(b.i32[i], dv.Int32(), data.Int32())
			} else {
				b.i32[i] = append(b.i32[i], data.Int32()...)
			}
		case kInt64:
			if dict != nil {
				dv := dict.Page().Data()
				b.i64[i], err = appendLookup(b.i64[i], dv.Int64(), data.Int32())
			} else {
				b.i64[i] = append(b.i64[i], data.Int64()...)
			}
		case kNullInt64:
			start := len(b.i64[i])
			if dict != nil {
				dv := dict.Page().Data()
				b.i64[i], err = appendLookup(b.i64[i], dv.Int64(), data.Int32())
			} else {
				b.i64[i] = append(b.i64[i], data.Int64()...)
			}
			if err == nil {
				b.i64[i], err = spreadNulls(b.i64[i], start, page.DefinitionLevels())
			}
		case kString:
			if dict != nil {
				if dictIDs == nil {
					dv := dict.Page().Data()
					values, offsets := dv.ByteArray()
					dictIDs = make([]uint32, 0, dict.Len())
					in.mu.Lock()
					for k := 0; k+1 < len(offsets); k++ {
						dictIDs = append(dictIDs, in.idLocked(values[offsets[k]:offsets[k+1]]))
					}
					in.mu.Unlock()
				}
				b.str[i], err = appendLookup(b.str[i], dictIDs, data.Int32())
			} else {
				values, offsets := data.ByteArray()
				in.mu.Lock()
				for k := 0; k+1 < len(offsets); k++ {
					b.str[i] = append(b.str[i], in.idLocked(values[offsets[k]:offsets[k+1]]))
				}
				in.mu.Unlock()
			}
		case kBool:
			r, ok := page.Values().(parquet.BooleanReader)
			if !ok {
				err = errors.New("boolean page without a typed reader")
				break
			}
			n := int(page.NumValues())
			start := len(b.bool[i])
			b.bool[i] = append(b.bool[i], make([]bool, n)...)
			got, rerr := r.ReadBooleans(b.bool[i][start:])
			if rerr != nil && rerr != io.EOF {
				err = rerr
			} else if got != n {
				err = fmt.Errorf("read %d of %d boolean values", got, n)
			}
		}
		parquet.Release(page)
		if err != nil {
			return err
		}
	}
}

// spreadNulls places the values dst[start:] (a page's non-null values) at
// the rows whose definition level is 1, and nullInt64 at the others (level
// 0). Without levels, every row has a value.
func spreadNulls(dst []int64, start int, levels []byte) ([]int64, error) {
	if len(levels) == 0 {
		return dst, nil
	}
	values := len(dst) - start
	defined := 0
	for _, l := range levels {
		if l > 1 {
			return dst, fmt.Errorf("definition level %d of a column whose maximum is 1", l)
		}
		defined += int(l)
	}
	if defined != values {
		return dst, fmt.Errorf("%d values for %d defined rows", values, defined)
	}
	dst = slices.Grow(dst, len(levels)-values)[:start+len(levels)]
	// From the end: a value only moves right, past values already moved.
	j := start + values - 1
	for k := len(levels) - 1; k >= 0; k-- {
		if levels[k] == 1 {
			dst[start+k] = dst[j]
			j--
		} else {
			dst[start+k] = nullInt64
		}
	}
	return dst, nil
}

// appendLookup appends dict[x] for each index x of a dictionary-encoded page.
func appendLookup[T any](dst, dict []T, idx []int32) ([]T, error) {
	for _, x := range idx {
		if x < 0 || int(x) >= len(dict) {
			return dst, fmt.Errorf("dictionary index %d out of range", x)
		}
		dst = append(dst, dict[x])
	}
	return dst, nil
}
