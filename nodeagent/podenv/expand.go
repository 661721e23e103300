package podenv

import "strings"

// Expand replaces every $(NAME) in input with lookup(NAME) when lookup knows
// NAME, and leaves the reference untouched otherwise. "$$" becomes "$"; any
// other "$" is kept as is. These are the rules of Kubernetes'
// third_party/forked/golang/expansion.
func Expand(input string, lookup func(string) (string, bool)) string {
	if !strings.Contains(input, "$") {
		return input
	}
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != '$' || cursor+1 >= len(input) {
			continue
		}
		b.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readVariable(input[cursor+1:])
		if isVar {
			if v, ok := lookup(read); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + read + ")")
			}
		} else {
			b.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	b.WriteString(input[checkpoint:])
	return b.String()
}

// readVariable reads what follows a "$": it returns the variable name and
// true for "(NAME)", or the literal text to emit and false otherwise, plus
// how many bytes of input it consumed.
func readVariable(input string) (string, bool, int) {
	switch input[0] {
	case '$':
		return "$", false, 1 // escaped "$$"
	case '(':
		for i := 1; i < len(input); i++ {
			if input[i] == ')' {
				return input[1:i], true, i + 1
			}
		}
		return "$(", false, 1 // unterminated: keep the text
	default:
		return "$" + input[:1], false, 1
	}
}
