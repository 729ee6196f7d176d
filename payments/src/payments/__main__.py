from common.service import main
from payments.app import SERVICE

if __name__ == "__main__":
    main(SERVICE)
