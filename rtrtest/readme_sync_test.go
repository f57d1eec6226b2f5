package rtrtest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeInSync checks that every Go block of README.md's "Testing
// your app" section appears verbatim in readme_test.go, which compiles and
// runs them: the README's test code is copy-paste correct.
func TestReadmeInSync(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	code, err := os.ReadFile("readme_test.go")
	require.NoError(t, err)

	_, section, ok := strings.Cut(string(readme), "\n## Testing your app\n")
	require.True(t, ok, "README.md has a \"## Testing your app\" section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	blocks := 0
	for {
		_, rest, ok := strings.Cut(section, "```go\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(rest, "```\n")
		require.True(t, ok, "unterminated code block")
		require.Contains(t, string(code), block, "README block not in readme_test.go")
		blocks++
		section = after
	}
	require.GreaterOrEqual(t, blocks, 5)
}
