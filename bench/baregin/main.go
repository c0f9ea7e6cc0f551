// Command baregin is the yardstick of bench/http.sh: a bare Gin handler
// answering {"status":"OK"}, the framework's own limit on this machine.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/gin-gonic/gin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/api/v1/status", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "OK"}) })
	log.Fatal(http.ListenAndServe(*addr, r))
}
