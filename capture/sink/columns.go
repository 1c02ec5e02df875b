package sink

import (
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

// OpenPart opens a Parquet part for reading; close it with the file.
func OpenPart(path string) (*os.File, *parquet.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil {
		var pf *parquet.File
		if pf, err = parquet.OpenFile(f, st.Size()); err == nil {
			return f, pf, nil
		}
		err = fmt.Errorf("%s: not a readable Parquet file: %w", path, err)
	}
	f.Close()
	return nil, nil, err
}

// ColumnBatches reads the columns leaves of a row group (a flat schema:
// one value per row in each column) len(bufs[0]) rows at a time, without
// assembling rows: bufs[i] receives leaf leaves[i]'s values, and f is
// called with the number of rows in the batch; the values stay valid
// until f returns. Reading tacap's own parts this way costs a fraction of
// row-wise reading (tacap label, tacap export lucid).
func ColumnBatches(rg parquet.RowGroup, leaves []int, bufs [][]parquet.Value, f func(n int) error) error {
	chunks := rg.ColumnChunks()
	readers := make([]parquet.ColumnChunkValueReader, len(leaves))
	for i, c := range leaves {
		readers[i] = parquet.NewColumnChunkValueReader(chunks[c])
	}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for left := rg.NumRows(); left > 0; {
		n := int(min(left, int64(len(bufs[0]))))
		for i, r := range readers {
			if err := readFull(r, bufs[i][:n]); err != nil {
				return fmt.Errorf("column %s: %w", rg.Schema().Fields()[leaves[i]].Name(), err)
			}
		}
		if err := f(n); err != nil {
			return err
		}
		left -= int64(n)
	}
	return nil
}

// readFull reads exactly len(buf) values.
func readFull(r parquet.ColumnChunkValueReader, buf []parquet.Value) error {
	for len(buf) > 0 {
		n, err := r.ReadValues(buf)
		buf = buf[n:]
		if len(buf) == 0 {
			return nil
		}
		if err == io.EOF {
			return io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrNoProgress
		}
	}
	return nil
}
