// Run once by the mongo image when it initialises an empty data directory
// (/docker-entrypoint-initdb.d), as the root user MONGO_INITDB_ROOT_USERNAME: creates the
// service's own user, allowed to read and write its database and nothing else.
const database = process.env.MONGO_INITDB_DATABASE;
db.getSiblingDB(database).createUser({
  user: process.env.MONGO_SERVICE_USER,
  pwd: process.env.MONGO_SERVICE_PASSWORD,
  roles: [{ role: "readWrite", db: database }],
});
