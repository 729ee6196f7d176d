from common.service import main
from tickets.app import SERVICE

if __name__ == "__main__":
    main(SERVICE)
