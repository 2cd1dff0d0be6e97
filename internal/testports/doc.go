// Package testports hands tests ports for the processes they start.
//
// A port the kernel gives for ":0", released by the test and bound later by a
// child process, can be taken meanwhile by any outgoing connection: those
// draw from the same ephemeral range, and the embedded clusters open many.
// That once failed CI with "address already in use". So ports come from
// below the ephemeral range, checked free for TCP and UDP, and never twice
// in one test process.
package testports
