/* The one definition of s3lb's version: `s3lb version`, /status, the startup log line. */
#ifndef S3LB_CORE_VERSION_H
#define S3LB_CORE_VERSION_H

#define S3LB_VERSION "0.1.0"

#endif
