#!/usr/bin/env bash
# One-shot: load the generated documents into entertainment.movie_collection (the spec's source.database and
# source.collection), replacing what is there. Runs in the mongo:7 image (mongoimport, mongosh).
set -euo pipefail
uri="mongodb://root:example@mongodb:27017/entertainment?authSource=admin"
mongoimport --uri "$uri" --collection movie_collection --drop --file /runs/data/movie_collection.mongoimport.json
mongosh --quiet "$uri" --eval 'print("movie_collection documents: " + db.movie_collection.countDocuments())'
