// A CourseGraph patch to FerretDB v1.24.2 (Apache-2.0), added to its SQLite backend by
// coursegraph_cli/infra/services.py. See docs/adr/0014-requests-read-documents-by-id.md.

package sqlite

import (
	"fmt"
	"strings"

	"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
	"github.com/FerretDB/FerretDB/internal/handler/sjson"
	"github.com/FerretDB/FerretDB/internal/types"
	"github.com/FerretDB/FerretDB/internal/util/must"
)

// idInMax bounds the ids pushed down at once (SQLite limits the variables of a statement).
const idInMax = 1000

// idInWhere pushes `{_id: {$in: [ids]}}` down to SQLite as an IN over the `_id` index. Upstream pushes
// down only `{_id: id}`, and answers an $in by decoding every document of the collection. The handler
// filters the rows again, so a filter not pushed down (other types, longer lists) is answered as before.
func idInWhere(v any) (string, []any) {
	doc, ok := v.(*types.Document)
	if !ok || doc.Len() != 1 {
		return "", nil
	}

	in, err := doc.Get("$in")
	if err != nil {
		return "", nil
	}

	ids, ok := in.(*types.Array)
	if !ok || ids.Len() == 0 || ids.Len() > idInMax {
		return "", nil
	}

	args := make([]any, 0, ids.Len())

	for i := 0; i < ids.Len(); i++ {
		id := must.NotFail(ids.Get(i))

		switch id.(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(id))))
		default:
			return "", nil
		}
	}

	return fmt.Sprintf(` WHERE %s IN (?%s)`, metadata.IDColumn, strings.Repeat(`, ?`, len(args)-1)), args
}
