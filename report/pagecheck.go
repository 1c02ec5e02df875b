package report

import (
	"bufio"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// checkPages walks the page headers of one column chunk and fails when a
// page claims more bytes than its chunk holds, or the chunk more than the
// file. parquet-go allocates a page's declared size before reading it: a
// few hostile bytes could otherwise make the report ask for gigabytes.
// Only the headers are read; the pages are skipped.
func checkPages(r io.ReaderAt, fileSize int64, md *format.ColumnMetaData) error {
	start := md.DataPageOffset
	if md.DictionaryPageOffset > 0 && md.DictionaryPageOffset < start {
		start = md.DictionaryPageOffset
	}
	end := start + md.TotalCompressedSize
	if start < 0 || md.TotalCompressedSize < 0 || end > fileSize || end < start {
		return fmt.Errorf("column chunk at bytes %d–%d lies outside the file of %d bytes", start, end, fileSize)
	}
	var proto thrift.CompactProtocol
	for pos := start; pos < end; {
		cr := &countingReader{r: bufio.NewReaderSize(io.NewSectionReader(r, pos, end-pos), 256)}
		var h format.PageHeader
		if err := thrift.NewDecoder(proto.NewReader(cr)).Decode(&h); err != nil {
			return fmt.Errorf("page header at byte %d: %v", pos, err)
		}
		size := int64(h.CompressedPageSize)
		if size < 0 || pos+cr.n+size > end {
			return fmt.Errorf("page at byte %d claims %d bytes, more than the %d left in its column chunk", pos, size, end-pos-cr.n)
		}
		pos += cr.n + size
	}
	return nil
}

// countingReader counts the bytes the thrift decoder took.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}
