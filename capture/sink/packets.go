package sink

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding/delta"
	"github.com/parquet-go/parquet-go/encoding/rle"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tacap/tacap/dataset"
)

// packetEncoder writes one packets/ part column by column, straight from
// rows: each field is stored into its column's page as the row arrives,
// every string column is dictionary-encoded through a cache keyed by the
// string's memory (the converter hands out the same string for the same
// address, label or interface), and a page is encoded and compressed when
// pageRows rows have arrived. The schema is the one parquet-go writes for
// dataset.Packet (taken from it); the encodings are chosen for what packet
// columns hold: dictionaries for the strings and the INT32 numbers (a few
// distinct protocols, ports, lengths, flags a row group), deltas for the
// times, PLAIN for sequence numbers and flow ids; zstd, data pages v2,
// chunk statistics, column and offset indexes. parquet-go's row writer
// spent more per row than everything else the capture does (BENCHMARKS.md,
// "where the CPU per record goes").
//
// Strings are immutable in Go, so equal memory means equal text; a string
// whose bytes are later reused (unsafe.String over a buffer) would break
// the cache, and the converter makes none.
type packetEncoder struct {
	out   io.Writer
	off   int64 // bytes written to out
	err   error
	codec *zstd.Codec
	kv    []format.KeyValue

	cols       [packetColumnCount]column
	i64        [4][]int64 // ts, ts_ns, tcp_seq, tcp_ack: this page's values
	i32        [15][]int32
	str        [8]strColumn
	ints       [15]intDict
	varied     [15]bool // the INT32 column holds two values in this page
	idx        []int32  // a page's dictionary indexes, for the number columns
	flowVals   []int64  // flow_id values present in this page
	flowDefs   []uint8  // its definition levels
	n          int      // rows in the current page
	groupRows  int64    // rows in the current row group
	firstRow   int64    // of the current page, in its row group
	maxGroup   int64
	rows       int64
	rowGroups  []format.RowGroup
	indexes    [][packetColumnCount]chunkIndex // per row group
	scratch    []byte
	runs       []byte
	compressed []byte
	levels     []byte
}

// packetColumnCount is the number of packets/ columns
// (dataset.PacketColumns); newPacketEncoder holds the schema to it.
const packetColumnCount = 28

// pageRows is the rows a data page holds: 512 KiB of an INT64 column,
// 256 KiB of an INT32 one (parquet-go's default page is 256 KiB).
const pageRows = 1 << 16

type columnKind uint8

const (
	kindI64    columnKind = iota // PLAIN
	kindDelta                    // INT64, DELTA_BINARY_PACKED
	kindI32                      // RLE_DICTIONARY
	kindStr                      // RLE_DICTIONARY
	kindOptI64                   // PLAIN
)

// deltaColumns are the INT64 columns written DELTA_BINARY_PACKED: the
// times, which grow by little from one packet to the next (a few bits a
// row where PLAIN gave zstd eight bytes to squeeze).
var deltaColumns = map[string]bool{"ts": true, "ts_ns": true}

// column is one column's place and its row group's encoded pages.
type column struct {
	name  string
	kind  columnKind
	slot  int // in i64, i32 or str
	ptype format.Type
	// this row group's data pages, header and body, compressed
	pages     bytes.Buffer
	numPages  int32
	locations []format.PageLocation // offsets relative to pages
	uncomp    int64
	values    int64
	nulls     int64
	min, max  []byte // over the row group (numbers)
	pageMin   [][]byte
	pageMax   [][]byte
	pageNulls []int64
}

// chunkIndex is where a column chunk's indexes will go, kept until the
// footer (they follow the last row group, as parquet-go writes them).
type chunkIndex struct {
	column *format.ColumnIndex
	offset format.OffsetIndex
}

// strColumn is a string column's dictionary for the row group and its
// page's indexes.
type strColumn struct {
	dict   map[string]int32
	values []string
	idx    []int32
	hot    [strHot]strEntry
	last   strEntry
	empty  int32 // the index of "" + 1, 0: not in yet
}

type strEntry struct {
	p *byte // the string's bytes: equal pointers and lengths, equal strings
	n int
	i int32
}

const strHot = 1 << 10

// of is the dictionary index of s: inline when s is the string of the
// row before (most rows), else index.
func (c *strColumn) of(s string) int32 {
	if unsafe.StringData(s) == c.last.p && len(s) == c.last.n { // last.n is never 0
		return c.last.i
	}
	return c.index(s)
}

// index is the dictionary index of s, added if new, when s is not the
// string of the row before (of looked).
func (c *strColumn) index(s string) int32 {
	p, n := unsafe.StringData(s), len(s)
	if n == 0 { // "" may have any pointer, or none
		if c.empty == 0 {
			c.empty = c.add(s) + 1
		}
		return c.empty - 1
	}
	h := (uint64(uintptr(unsafe.Pointer(p))) * 0x9e3779b97f4a7c15) >> (64 - 10)
	e := &c.hot[h&(strHot-1)]
	if e.p != p || e.n != n {
		*e = strEntry{p, n, c.add(s)}
	}
	c.last = *e
	return e.i
}

// add looks s up in the dictionary by its text, adding it if new.
func (c *strColumn) add(s string) int32 {
	i, ok := c.dict[s]
	if !ok {
		i = int32(len(c.values))
		c.values = append(c.values, s)
		c.dict[s] = i
	}
	return i
}

func (c *strColumn) reset() {
	clear(c.dict)
	c.values = c.values[:0]
	c.hot = [strHot]strEntry{}
	c.last = strEntry{n: -1}
	c.empty = 0
}

// intDict is an INT32 column's dictionary for the row group: values below
// intSmall (every packets/ number but a corrupt one) through a table, the
// others through a map.
type intDict struct {
	small  []int32 // value → index + 1, 0: not yet in
	other  map[int32]int32
	values []int32
}

const intSmall = 1 << 16

// indexes stores the dictionary index of each of v in idx, adding new
// values, and returns v's bounds. A value already in the table is found
// inline; the rest go through index1.
func (d *intDict) indexes(idx, v []int32) (lo, hi int32) {
	lo, hi = v[0], v[0]
	small := d.small[:intSmall]
	for k, x := range v {
		lo, hi = min(lo, x), max(hi, x)
		if uint32(x) < intSmall {
			if i := small[x]; i != 0 {
				idx[k] = i - 1
				continue
			}
		}
		idx[k] = d.index1(x)
	}
	return lo, hi
}

// index1 is the dictionary index of x, added if new.
func (d *intDict) index1(x int32) int32 {
	if uint32(x) < intSmall {
		if i := d.small[x]; i != 0 {
			return i - 1
		}
		d.small[x] = int32(len(d.values)) + 1
	} else if i, ok := d.other[x]; ok {
		return i
	} else {
		d.other[x] = int32(len(d.values))
	}
	d.values = append(d.values, x)
	return int32(len(d.values)) - 1
}

// oneRun appends the RLE_DICTIONARY encoding of n times index i of a
// dictionary of dictLen values: the bit width, then one RLE run (its
// length shifted left once, then the value in whole bytes).
func oneRun(dst []byte, n int, i int32, dictLen int) []byte {
	width := indexWidth(dictLen)
	dst = append(dst, byte(width))
	dst = binary.AppendUvarint(dst, uint64(n)<<1)
	for b := 0; b < (width+7)/8; b++ {
		dst = append(dst, byte(i>>(8*b)))
	}
	return dst
}

// indexWidth is the bits an index into a dictionary of n values takes.
func indexWidth(n int) int { return bits.Len32(uint32(max(n-1, 0))) }

func (d *intDict) reset() {
	for _, x := range d.values {
		if uint32(x) < intSmall {
			d.small[x] = 0
		}
	}
	clear(d.other)
	d.values = d.values[:0]
}

// packetSchema is the packets/ schema as parquet-go writes it for
// dataset.Packet, read once from an empty file it makes.
var packetSchema = sync.OnceValues(func() (*format.FileMetaData, error) {
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[dataset.Packet](&buf, WriterOptions(1, nil)...)
	if err := w.Close(); err != nil {
		return nil, err
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		return nil, err
	}
	return f.Metadata(), nil
})

func newPacketEncoder(out io.Writer, rowGroupRows int64) (*packetEncoder, error) {
	md, err := packetSchema()
	if err != nil {
		return nil, fmt.Errorf("packets/ schema: %w", err)
	}
	leaves := md.Schema[1:]
	if len(leaves) != packetColumnCount {
		return nil, fmt.Errorf("packets/ schema has %d columns, the encoder knows %d", len(leaves), packetColumnCount)
	}
	e := &packetEncoder{out: out, codec: &zstd.Codec{Level: zstd.SpeedFastest}, maxGroup: rowGroupRows}
	var n64, n32, nstr int
	for i, el := range leaves {
		c := &e.cols[i]
		c.name, c.ptype = el.Name, el.Type.V
		switch t := el.Type.V; {
		case t == format.ByteArray:
			c.kind, c.slot = kindStr, nstr
			nstr++
		case t == format.Int64 && el.RepetitionType.V == format.Optional:
			c.kind = kindOptI64
		case t == format.Int64:
			c.kind, c.slot = kindI64, n64
			if deltaColumns[el.Name] {
				c.kind = kindDelta
			}
			n64++
		case t == format.Int32:
			c.kind, c.slot = kindI32, n32
			n32++
		default:
			return nil, fmt.Errorf("packets/ column %s: type %v not written by the encoder", el.Name, t)
		}
	}
	if n64 != len(e.i64) || n32 != len(e.i32) || nstr != len(e.str) {
		return nil, fmt.Errorf("packets/ schema: %d INT64, %d INT32, %d strings; the encoder knows %d, %d, %d",
			n64, n32, nstr, len(e.i64), len(e.i32), len(e.str))
	}
	for i := range e.i64 {
		e.i64[i] = make([]int64, pageRows)
	}
	for i := range e.i32 {
		e.i32[i] = make([]int32, pageRows)
	}
	for i := range e.str {
		e.str[i].dict = map[string]int32{}
		e.str[i].last.n = -1
		e.str[i].idx = make([]int32, pageRows)
	}
	for i := range e.ints {
		e.ints[i].small = make([]int32, intSmall)
		e.ints[i].other = map[int32]int32{}
	}
	e.idx = make([]int32, pageRows)
	e.flowVals = make([]int64, 0, pageRows)
	e.flowDefs = make([]uint8, pageRows)
	e.write([]byte("PAR1"))
	return e, e.err
}

// Write adds rows.
func (e *packetEncoder) Write(rows []dataset.Packet) (int, error) {
	done := 0
	for done < len(rows) && e.err == nil {
		n := min(len(rows)-done, pageRows-e.n, int(e.maxGroup-e.groupRows), chunkRows)
		e.fill(rows[done : done+n])
		done += n
		e.n += n
		e.groupRows += int64(n)
		if e.n == pageRows {
			e.flushPage()
		}
		if e.groupRows == e.maxGroup {
			e.flushGroup()
		}
	}
	return done, e.err
}

// chunkRows is how many rows fill takes at a time: few enough (60 KB of
// rows) to stay in the cache while each column is taken from them.
const chunkRows = 256

// fill stores rows, which fit in the page, column after column: each loop
// keeps its column's slice in registers, where a row at a time reloaded 28
// slice headers and checked 28 bounds.
func (e *packetEncoder) fill(rows []dataset.Packet) {
	k := e.n
	n := len(rows)
	ts, tsNs, seq, ack := e.i64[0][k:k+n], e.i64[1][k:k+n], e.i64[2][k:k+n], e.i64[3][k:k+n]
	for i := range rows {
		p := &rows[i]
		ts[i], tsNs[i], seq[i], ack[i] = p.Ts, p.TsNs, p.TCPSeq, p.TCPAck
	}
	strCol := func(c *strColumn, get func(*dataset.Packet) string) {
		idx := c.idx[k : k+n]
		for i := range rows {
			idx[i] = c.of(get(&rows[i]))
		}
	}
	strCol(&e.str[0], func(p *dataset.Packet) string { return p.Iface })
	strCol(&e.str[1], func(p *dataset.Packet) string { return p.Direction })
	strCol(&e.str[2], func(p *dataset.Packet) string { return p.SrcIP })
	strCol(&e.str[3], func(p *dataset.Packet) string { return p.DstIP })
	strCol(&e.str[4], func(p *dataset.Packet) string { return p.RunID })
	strCol(&e.str[5], func(p *dataset.Packet) string { return p.Label })
	strCol(&e.str[6], func(p *dataset.Packet) string { return p.Attack })
	strCol(&e.str[7], func(p *dataset.Packet) string { return p.LabelRule })
	a, b, c, d, f := e.i32[0][k:k+n], e.i32[1][k:k+n], e.i32[2][k:k+n], e.i32[3][k:k+n], e.i32[4][k:k+n]
	for i := range rows {
		p := &rows[i]
		a[i], b[i], c[i], d[i], f[i] = p.VlanID, p.IPVersion, p.Protocol, p.SrcPort, p.DstPort
	}
	a, b, c, d, f = e.i32[5][k:k+n], e.i32[6][k:k+n], e.i32[7][k:k+n], e.i32[8][k:k+n], e.i32[9][k:k+n]
	for i := range rows {
		p := &rows[i]
		a[i], b[i], c[i], d[i], f[i] = p.IPLen, p.GSOSegs, p.IPFlagsFrag, p.TTL, p.TCPPayloadLen
	}
	a, b, c, d, f = e.i32[10][k:k+n], e.i32[11][k:k+n], e.i32[12][k:k+n], e.i32[13][k:k+n], e.i32[14][k:k+n]
	for i := range rows {
		p := &rows[i]
		a[i], b[i], c[i], d[i], f[i] = p.TCPFlags, p.TCPWindow, p.UDPPayloadLen, p.ICMPType, p.ICMPCode
	}
	// Whether each number column is still one value in the page, checked
	// while its values are in the cache: a page of one value is one run.
	for j := range e.i32 {
		if e.varied[j] {
			continue
		}
		col := e.i32[j][:k+n]
		x := col[0]
		for _, y := range col[k:] {
			if y != x {
				e.varied[j] = true
				break
			}
		}
	}
	defs := e.flowDefs[k : k+n]
	for i := range rows {
		if id := rows[i].FlowID; id != 0 {
			e.flowVals = append(e.flowVals, id)
			defs[i] = 1
		} else {
			defs[i] = 0
		}
	}
}

// flushPage encodes and compresses the page of every column.
func (e *packetEncoder) flushPage() {
	if e.n == 0 || e.err != nil {
		return
	}
	for i := range e.cols {
		c := &e.cols[i]
		switch c.kind {
		case kindI64:
			v := e.i64[c.slot][:e.n]
			lo, hi := bounds(v)
			e.page(c, format.Plain, plainBytes(v), nil, 0, le64(lo), le64(hi))
		case kindDelta:
			v := e.i64[c.slot][:e.n]
			lo, hi := bounds(v)
			var err error
			e.runs, err = (&delta.BinaryPackedEncoding{}).EncodeInt64(e.runs[:0], v)
			if err != nil {
				e.err = fmt.Errorf("encode %s: %w", c.name, err)
				return
			}
			e.page(c, format.DeltaBinaryPacked, e.runs, nil, 0, le64(lo), le64(hi))
		case kindI32:
			d := &e.ints[c.slot]
			v := e.i32[c.slot][:e.n]
			var lo, hi int32
			if !e.varied[c.slot] { // most columns, most pages
				i := d.index1(v[0])
				lo, hi = v[0], v[0]
				e.scratch = oneRun(e.scratch[:0], e.n, i, len(d.values))
			} else {
				lo, hi = d.indexes(e.idx[:e.n], v)
				e.dictIndexes(c, e.idx[:e.n], len(d.values))
			}
			e.page(c, format.RLEDictionary, e.scratch, nil, 0, le32(lo), le32(hi))
		case kindOptI64:
			e.flowPage(c)
		case kindStr:
			s := &e.str[c.slot]
			e.dictIndexes(c, s.idx[:e.n], len(s.values))
			e.page(c, format.RLEDictionary, e.scratch, nil, 0, nil, nil)
		}
	}
	e.firstRow += int64(e.n)
	e.n = 0
	e.varied = [len(e.varied)]bool{}
	e.flowVals = e.flowVals[:0]
}

// dictIndexes encodes a page's dictionary indexes into scratch
// (RLE_DICTIONARY: the bit width, then the RLE/bit-packed runs), the width
// taken from the dictionary's size rather than from a pass over them.
func (e *packetEncoder) dictIndexes(c *column, idx []int32, dictLen int) {
	width := indexWidth(dictLen)
	var err error
	e.runs, err = (&rle.Encoding{BitWidth: width}).EncodeInt32(e.runs, idx)
	if err != nil {
		e.err = fmt.Errorf("encode %s: %w", c.name, err)
		return
	}
	e.scratch = append(append(e.scratch[:0], byte(width)), e.runs...)
}

func (e *packetEncoder) flowPage(c *column) {
	v := e.flowVals
	nulls := e.n - len(v)
	var err error
	e.levels, err = (&rle.Encoding{BitWidth: 1}).EncodeLevels(e.levels[:0], e.flowDefs[:e.n])
	if err != nil {
		e.err = fmt.Errorf("encode %s levels: %w", c.name, err)
		return
	}
	var lo, hi []byte
	if len(v) > 0 {
		l, h := bounds(v)
		lo, hi = le64(l), le64(h)
	}
	e.page(c, format.Plain, plainBytes(v), e.levels, nulls, lo, hi)
}

// page compresses one data page of c (values after levels, levels as they
// are, as data pages v2 keep them) and appends it to c's chunk.
func (e *packetEncoder) page(c *column, enc format.Encoding, values, levels []byte, nulls int, lo, hi []byte) {
	var err error
	e.compressed, err = e.codec.Encode(e.compressed[:0], values)
	if err != nil {
		e.err = fmt.Errorf("compress %s: %w", c.name, err)
		return
	}
	crc := crc32.Update(crc32.ChecksumIEEE(levels), crc32.IEEETable, e.compressed)
	h := format.PageHeader{
		Type:                 format.DataPageV2,
		UncompressedPageSize: int32(len(levels) + len(values)),
		CompressedPageSize:   int32(len(levels) + len(e.compressed)),
		CRC:                  int32(crc),
		DataPageHeaderV2: thrift.New(format.DataPageHeaderV2{
			NumValues:                  int32(e.n),
			NumNulls:                   int32(nulls),
			NumRows:                    int32(e.n),
			Encoding:                   enc,
			DefinitionLevelsByteLength: int32(len(levels)),
			IsCompressed:               thrift.New(true),
			Statistics:                 format.Statistics{NullCount: int64(nulls), MinValue: lo, MaxValue: hi},
		}),
	}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		e.err = fmt.Errorf("page header of %s: %w", c.name, err)
		return
	}
	c.locations = append(c.locations, format.PageLocation{Offset: int64(c.pages.Len()),
		CompressedPageSize: int32(len(hb)) + h.CompressedPageSize, FirstRowIndex: e.firstRow})
	c.pages.Write(hb)
	c.pages.Write(levels)
	c.pages.Write(e.compressed)
	c.numPages++
	c.uncomp += int64(len(hb)) + int64(h.UncompressedPageSize)
	c.values += int64(e.n)
	c.nulls += int64(nulls)
	if c.kind != kindStr {
		c.pageMin = append(c.pageMin, lo)
		c.pageMax = append(c.pageMax, hi)
		c.pageNulls = append(c.pageNulls, int64(nulls))
		if lo != nil && (c.min == nil || less(c.ptype, lo, c.min)) {
			c.min = lo
		}
		if hi != nil && (c.max == nil || less(c.ptype, c.max, hi)) {
			c.max = hi
		}
	}
}

// flushGroup writes the row group: each column's dictionary page (strings)
// then its data pages.
func (e *packetEncoder) flushGroup() {
	e.flushPage()
	if e.groupRows == 0 || e.err != nil {
		return
	}
	rg := format.RowGroup{NumRows: e.groupRows, FileOffset: e.off, Ordinal: int16(len(e.rowGroups))}
	var idx [packetColumnCount]chunkIndex
	for i := range e.cols {
		cc, ix := e.writeChunk(&e.cols[i])
		if e.err != nil {
			return
		}
		rg.Columns = append(rg.Columns, cc)
		rg.TotalByteSize += cc.MetaData.TotalUncompressedSize
		rg.TotalCompressedSize += cc.MetaData.TotalCompressedSize
		idx[i] = ix
	}
	e.rowGroups = append(e.rowGroups, rg)
	e.indexes = append(e.indexes, idx)
	e.rows += e.groupRows
	e.groupRows, e.firstRow = 0, 0
	for i := range e.str {
		e.str[i].reset()
	}
	for i := range e.ints {
		e.ints[i].reset()
	}
}

func (e *packetEncoder) writeChunk(c *column) (format.ColumnChunk, chunkIndex) {
	start := e.off
	md := format.ColumnMetaData{Type: c.ptype, PathInSchema: []string{c.name},
		Codec: format.Zstd, NumValues: c.values}
	stats := format.Statistics{NullCount: c.nulls, MinValue: c.min, MaxValue: c.max}
	switch c.kind {
	case kindStr:
		s := &e.str[c.slot]
		md.Encoding = []format.Encoding{format.Plain, format.RLEDictionary}
		md.DictionaryPageOffset = e.off
		e.scratch = e.scratch[:0]
		for _, v := range s.values {
			e.scratch = binary.LittleEndian.AppendUint32(e.scratch, uint32(len(v)))
			e.scratch = append(e.scratch, v...)
		}
		e.dictPage(c, e.scratch, len(s.values), &md)
		if len(s.values) > 0 {
			stats.MinValue, stats.MaxValue = []byte(slices.Min(s.values)), []byte(slices.Max(s.values))
		}
		md.EncodingStats = dictStats(c.numPages)
	case kindI32:
		md.Encoding = []format.Encoding{format.Plain, format.RLEDictionary}
		md.DictionaryPageOffset = e.off
		e.dictPage(c, plainBytes(e.ints[c.slot].values), len(e.ints[c.slot].values), &md)
		md.EncodingStats = dictStats(c.numPages)
	case kindOptI64:
		md.Encoding = []format.Encoding{format.Plain, format.RLE}
		md.EncodingStats = dataStats(format.Plain, c.numPages)
	case kindDelta:
		md.Encoding = []format.Encoding{format.DeltaBinaryPacked}
		md.EncodingStats = dataStats(format.DeltaBinaryPacked, c.numPages)
	default:
		md.Encoding = []format.Encoding{format.Plain}
		md.EncodingStats = dataStats(format.Plain, c.numPages)
	}
	md.DataPageOffset = e.off
	dataStart := e.off
	e.write(c.pages.Bytes())
	md.TotalCompressedSize = e.off - start
	md.TotalUncompressedSize += c.uncomp
	md.Statistics = stats
	ix := chunkIndex{offset: format.OffsetIndex{PageLocations: c.locations}}
	for i := range ix.offset.PageLocations {
		ix.offset.PageLocations[i].Offset += dataStart
	}
	if c.kind != kindStr {
		ci := &format.ColumnIndex{NullPages: make([]bool, len(c.pageMin)), MinValues: c.pageMin, MaxValues: c.pageMax,
			BoundaryOrder: format.Unordered, NullCounts: c.pageNulls}
		for i, v := range c.pageMin {
			if v == nil {
				ci.NullPages[i] = true
				ci.MinValues[i], ci.MaxValues[i] = []byte{}, []byte{}
			}
		}
		ix.column = ci
	}
	c.pages.Reset()
	c.locations, c.pageMin, c.pageMax, c.pageNulls = nil, nil, nil, nil
	c.numPages, c.uncomp, c.values, c.nulls, c.min, c.max = 0, 0, 0, 0, nil, nil
	return format.ColumnChunk{FileOffset: start, MetaData: md}, ix
}

// dictStats are the page encodings of a dictionary-encoded chunk of n data
// pages, dataStats those of one without a dictionary.
func dictStats(n int32) []format.PageEncodingStats {
	return []format.PageEncodingStats{{PageType: format.DictionaryPage, Encoding: format.Plain, Count: 1},
		{PageType: format.DataPageV2, Encoding: format.RLEDictionary, Count: n}}
}

func dataStats(enc format.Encoding, n int32) []format.PageEncodingStats {
	return []format.PageEncodingStats{{PageType: format.DataPageV2, Encoding: enc, Count: n}}
}

// dictPage writes a column's dictionary page, b: its n values, PLAIN.
func (e *packetEncoder) dictPage(c *column, b []byte, n int, md *format.ColumnMetaData) {
	var err error
	e.compressed, err = e.codec.Encode(e.compressed[:0], b)
	if err != nil {
		e.err = fmt.Errorf("compress %s dictionary: %w", c.name, err)
		return
	}
	h := format.PageHeader{Type: format.DictionaryPage, UncompressedPageSize: int32(len(b)),
		CompressedPageSize: int32(len(e.compressed)), CRC: int32(crc32.ChecksumIEEE(e.compressed)),
		DictionaryPageHeader: thrift.New(format.DictionaryPageHeader{NumValues: int32(n), Encoding: format.Plain})}
	hb, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		e.err = fmt.Errorf("dictionary header of %s: %w", c.name, err)
		return
	}
	e.write(hb)
	e.write(e.compressed)
	md.TotalUncompressedSize += int64(len(hb)) + int64(len(b))
}

// SetKeyValueMetadata sets a key of the footer's metadata.
func (e *packetEncoder) SetKeyValueMetadata(k, v string) {
	for i := range e.kv {
		if e.kv[i].Key == k {
			e.kv[i].Value = v
			return
		}
	}
	e.kv = append(e.kv, format.KeyValue{Key: k, Value: v})
}

// Close writes the last row group, the indexes and the footer.
func (e *packetEncoder) Close() error {
	e.flushGroup()
	if e.err != nil {
		return e.err
	}
	for g := range e.indexes {
		for i := range e.indexes[g] {
			ix := &e.indexes[g][i]
			cc := &e.rowGroups[g].Columns[i]
			if ix.column != nil {
				b, err := thrift.Marshal(new(thrift.CompactProtocol), ix.column)
				if err != nil {
					return fmt.Errorf("column index of %s: %w", cc.MetaData.PathInSchema[0], err)
				}
				cc.ColumnIndexOffset, cc.ColumnIndexLength = e.off, int32(len(b))
				e.write(b)
			}
		}
	}
	for g := range e.indexes {
		for i := range e.indexes[g] {
			cc := &e.rowGroups[g].Columns[i]
			b, err := thrift.Marshal(new(thrift.CompactProtocol), &e.indexes[g][i].offset)
			if err != nil {
				return fmt.Errorf("offset index of %s: %w", cc.MetaData.PathInSchema[0], err)
			}
			cc.OffsetIndexOffset, cc.OffsetIndexLength = e.off, int32(len(b))
			e.write(b)
		}
	}
	schema, _ := packetSchema()
	md := format.FileMetaData{Version: schema.Version, Schema: schema.Schema, NumRows: e.rows, RowGroups: e.rowGroups,
		KeyValueMetadata: e.kv, CreatedBy: schema.CreatedBy, ColumnOrders: schema.ColumnOrders}
	b, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		return fmt.Errorf("footer: %w", err)
	}
	e.write(b)
	e.write(binary.LittleEndian.AppendUint32(nil, uint32(len(b))))
	e.write([]byte("PAR1"))
	return e.err
}

func (e *packetEncoder) write(b []byte) {
	if e.err != nil {
		return
	}
	n, err := e.out.Write(b)
	e.off += int64(n)
	if err != nil {
		e.err = err
	}
}

// bounds are the least and greatest of v (not empty).
func bounds[T int32 | int64](v []T) (lo, hi T) {
	lo, hi = v[0], v[0]
	for _, x := range v[1:] {
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return lo, hi
}

func le64(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func le32(v int32) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

// less compares two PLAIN numbers of type t.
func less(t format.Type, a, b []byte) bool {
	if t == format.Int32 {
		return cmp.Less(int32(binary.LittleEndian.Uint32(a)), int32(binary.LittleEndian.Uint32(b)))
	}
	return cmp.Less(int64(binary.LittleEndian.Uint64(a)), int64(binary.LittleEndian.Uint64(b)))
}

// plainBytes is v's PLAIN encoding: its memory on a little-endian machine.
func plainBytes[T int32 | int64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	size := int(unsafe.Sizeof(v[0]))
	if !littleEndian {
		b := make([]byte, 0, size*len(v))
		for _, x := range v {
			if size == 8 {
				b = binary.LittleEndian.AppendUint64(b, uint64(x))
			} else {
				b = binary.LittleEndian.AppendUint32(b, uint32(x))
			}
		}
		return b
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), size*len(v))
}

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1
