// Package faults holds rtr's fault-injection tests (package faults_test):
// black-box tests of package rtr's public API against redis-server
// processes of their own that they kill, pause, restart and reshard, some
// behind the fault proxy of internal/faultproxy.
//
// They start and kill server processes, so they only run with
// RTR_FAULTS=1 (.ci/steps/40-faults.sh sets it):
//
//	RTR_FAULTS=1 go test -race -count=1 -run '^TestFault' -v ./internal/faults/
package faults
