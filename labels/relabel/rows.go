package relabel

import (
	"fmt"
	"net/netip"

	"github.com/parquet-go/parquet-go"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// The fast path: a part written with today's schema is relabelled as
// parquet.Row values, without building structs: the label columns are set
// in place and every other value is written back as read. (A part from an
// older schema goes through the structs, which fill the missing columns.)

// rowLabeller relabels one row in place; it says its new label and
// whether the label columns changed.
type rowLabeller func(row rowView) (string, bool)

// rowView is row i of a batch of column values (a flat schema has one
// value per row in each column).
type rowView struct {
	cols [][]parquet.Value
	i    int
}

func (r rowView) at(col int) *parquet.Value { return &r.cols[col][r.i] }

// columns finds the leaf index of each name in schema.
func columns(schema *parquet.Schema, names ...string) ([]int, error) {
	out := make([]int, len(names))
	for i, n := range names {
		leaf, ok := schema.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("no column %s", n)
		}
		out[i] = leaf.ColumnIndex
	}
	return out, nil
}

// values are a matcher's label strings as Parquet values, made once.
type values struct {
	label, attack, rule []parquet.Value // index: rule + 1 (0: no rule)
}

func newValues(m *labels.Matcher) *values {
	v := &values{}
	for r := labels.Result(-1); int(r) < len(m.Rules().Rules); r++ {
		v.label = append(v.label, parquet.ByteArrayValue([]byte(m.Label(r))))
		v.attack = append(v.attack, parquet.ByteArrayValue([]byte(m.Attack(r))))
		v.rule = append(v.rule, parquet.ByteArrayValue([]byte(m.RuleID(r))))
	}
	return v
}

// set writes r's label columns into row at the leaves lc (label, attack,
// label_rule) and says whether they changed.
func (v *values) set(row rowView, lc []int, r labels.Result) bool {
	changed := false
	for i, vs := range [...][]parquet.Value{v.label, v.attack, v.rule} {
		nv := vs[r+1].Level(0, 0, lc[i])
		old := row.at(lc[i])
		if string(old.ByteArray()) != string(nv.ByteArray()) {
			changed = true
		}
		*old = nv
	}
	return changed
}

// lastAddr remembers the last address text of a column and what it
// parsed to: consecutive rows mostly repeat it, and comparing bytes costs
// less than hashing them.
type lastAddr struct {
	text []byte
	addr netip.Addr
}

func (w *worker) addrBytes(b []byte, last *lastAddr) netip.Addr {
	if string(b) == string(last.text) && last.text != nil {
		return last.addr
	}
	a, ok := w.addrs[string(b)]
	if !ok {
		a = w.addr(string(b))
	}
	last.text, last.addr = append(last.text[:0], b...), a
	return a
}

func (w *worker) rowTuple(row rowView, tc []int) labels.Tuple {
	return labels.TupleOf(w.addrBytes(row.at(tc[0]).ByteArray(), &w.lastSrc), w.addrBytes(row.at(tc[1]).ByteArray(), &w.lastDst),
		uint8(row.at(tc[2]).Int32()), uint16(row.at(tc[3]).Int32()), uint16(row.at(tc[4]).Int32()))
}

var tupleColumns = []string{"src_ip", "dst_ip", "protocol", "src_port", "dst_port"}
var labelColumns = []string{"label", "attack", "label_rule"}

// tableColumns finds a table's tuple columns, label columns and others.
func tableColumns(schema *parquet.Schema, other ...string) (tc, lc, oc []int, err error) {
	if tc, err = columns(schema, tupleColumns...); err != nil {
		return nil, nil, nil, err
	}
	if lc, err = columns(schema, labelColumns...); err != nil {
		return nil, nil, nil, err
	}
	oc, err = columns(schema, other...)
	return tc, lc, oc, err
}

// packetRows relabels packets/ rows.
func (w *worker) packetRows(schema *parquet.Schema) (rowLabeller, error) {
	tc, lc, ts, err := tableColumns(schema, "ts_ns")
	if err != nil {
		return nil, err
	}
	return func(row rowView) (string, bool) {
		t := w.rowTuple(row, tc)
		r := w.m.Packet(&t, row.at(ts[0]).Int64(), w.sc)
		return w.m.Label(r), w.vals.set(row, lc, r)
	}, nil
}

// sessionRows relabels sessions/ rows.
func (w *worker) sessionRows(schema *parquet.Schema) (rowLabeller, error) {
	tc, lc, ts, err := tableColumns(schema, "first_ts", "last_ts")
	if err != nil {
		return nil, err
	}
	return func(row rowView) (string, bool) {
		t := w.rowTuple(row, tc)
		r := w.m.Session(&t, row.at(ts[0]).Int64(), row.at(ts[1]).Int64(), w.bidirectional, w.sc)
		return w.m.Label(r), w.vals.set(row, lc, r)
	}, nil
}

// flowRows relabels flows/ rows, label_packets included.
func (w *worker) flowRows(schema *parquet.Schema) (rowLabeller, error) {
	tc, lc, oc, err := tableColumns(schema, "first_ts_ns", "last_ts_ns", "fwd_packets", "bwd_packets", "label_packets")
	if err != nil {
		return nil, err
	}
	return func(row rowView) (string, bool) {
		t := w.rowTuple(row, tc)
		r, n := w.m.Flow(&t, row.at(oc[0]).Int64(), row.at(oc[1]).Int64(), row.at(oc[2]).Int64(), row.at(oc[3]).Int64(), w.sc)
		changed := w.vals.set(row, lc, r)
		old := row.at(oc[4])
		nv := parquet.NullValue().Level(0, 0, oc[4])
		if n >= 0 {
			nv = parquet.Int64Value(n).Level(0, 1, oc[4])
		}
		if old.IsNull() != nv.IsNull() || (!old.IsNull() && old.Int64() != n) {
			changed = true
		}
		*old = nv
		return w.m.Label(r), changed
	}, nil
}

// rowsOf picks the row labeller of a table.
func (w *worker) rowsOf(table string, schema *parquet.Schema) (rowLabeller, error) {
	switch table {
	case dataset.PacketsTable:
		return w.packetRows(schema)
	case dataset.SessionsTable:
		return w.sessionRows(schema)
	}
	return w.flowRows(schema)
}
